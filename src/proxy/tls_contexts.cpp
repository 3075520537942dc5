#include "haven/proxy/tls_contexts.hpp"

namespace haven::proxy {

core::Result<TlsContexts, config::ConfigError> TlsContexts::build(const config::Config& config,
                                                                  const std::shared_ptr<tls::TicketKeys>& keys,
                                                                  std::int64_t now_ms) {
  TlsContexts out;
  for (const config::Frontend& frontend : config.frontends) {
    if (!frontend.tls.enabled()) {
      out.frontends.emplace_back();
      continue;
    }
    auto context = tls::ServerContext::build(frontend.tls, keys, now_ms);
    if (!context) return context.error();
    out.frontends.push_back(std::move(context).value());
  }
  for (const config::Backend& backend : config.backends) {
    if (!backend.any_tls()) {
      out.backends.emplace_back();
      continue;
    }
    auto context = tls::ClientContext::build(backend.tls, now_ms);
    if (!context) return context.error();
    out.backends.push_back(std::move(context).value());
  }
  return out;
}

}  // namespace haven::proxy
