#include "haven/proxy/snapshot.hpp"

namespace haven::proxy {

Snapshot::Snapshot(std::shared_ptr<const config::Config> config_in, fallback::MaintenanceResponses maintenance_in,
                   const state::Binding& binding, TlsContexts tls_in)
    : config(std::move(config_in)),
      maintenance(std::move(maintenance_in)),
      frontends(binding.frontends),
      tls(std::move(tls_in)) {
  routes.reserve(config->frontends.size());
  for (const auto& frontend : config->frontends) routes.emplace_back(frontend);
  backends.reserve(config->backends.size());
  for (std::size_t i = 0; i < config->backends.size(); ++i) {
    backends.push_back(
        std::make_unique<upstream::Backend>(config->backends[i], i, binding.backends[i], binding.servers[i]));
    if (i < tls.backends.size()) backends.back()->tls = tls.backends[i];
    if (i < binding.stale.size()) backends.back()->stale = binding.stale[i];
  }
}

}  // namespace haven::proxy
