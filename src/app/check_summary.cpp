#include "haven/app/check_summary.hpp"

#include <iterator>

#include <fmt/format.h>

namespace haven::app {

namespace {
const char* plural(std::size_t n) { return n == 1 ? "" : "s"; }
}  // namespace

std::string check_summary(const config::Config& config) {
  std::size_t routes = 0;
  for (const auto& frontend : config.frontends) routes += frontend.routes.size();
  std::size_t servers = 0;
  std::size_t backups = 0;
  for (const auto& backend : config.backends) {
    servers += backend.servers.size();
    for (const auto& server : backend.servers) backups += server.backup ? 1 : 0;
  }
  std::string out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "{}: configuration is valid: {} frontend{}, {} route{}, {} backend{}, {} server{} ({} backup)\n",
                 config.source, config.frontends.size(), plural(config.frontends.size()), routes, plural(routes),
                 config.backends.size(), plural(config.backends.size()), servers, plural(servers), backups);
  for (const auto& frontend : config.frontends) {
    std::string transport;
    if (frontend.tls.enabled()) {
      transport = fmt::format(" (TLS, {} certificate{}{})", frontend.tls.certificates.size(),
                              plural(frontend.tls.certificates.size()), frontend.tls.strict_sni ? ", strict SNI" : "");
    } else if (frontend.redirect_https) {
      transport = " (redirects to https)";
    }
    fmt::format_to(it, "  frontend {} on {}{}\n", frontend.name, frontend.bind.text, transport);
    for (const auto& route : frontend.routes) fmt::format_to(it, "    {} -> {}\n", route.path_prefix, route.backend);
    fmt::format_to(it, "    (default) -> {}\n", frontend.default_backend);
  }
  if (config.admin.enabled) {
    fmt::format_to(it, "  admin on {} ({}{}{})\n", config.admin.bind.text,
                   config.admin.token.empty() ? "no token: local use only" : "token required for changes",
                   config.admin.read_token_required ? " and reads" : "",
                   config.admin.state_file.empty() ? "" : ", state kept in " + config.admin.state_file);
  }
  for (const auto& backend : config.backends) {
    fmt::format_to(it, "  backend {} ({}, {} retr{}, {})\n", backend.name, config::balance_name(backend.balance),
                   backend.retries, backend.retries == 1 ? "y" : "ies",
                   backend.check ? fmt::format("check {} {} every {}", backend.check->method, backend.check->path,
                                               core::format_duration(backend.check->interval))
                                 : std::string("no active check"));
    for (const auto& server : backend.servers) {
      fmt::format_to(it, "    server {} {}{}{}{}\n", server.name, server.address.text, server.backup ? " backup" : "",
                     server.weight != 1 ? fmt::format(" weight {}", server.weight) : std::string(),
                     server.tls ? fmt::format(" TLS to {}{}", server.sni, backend.tls.verify ? "" : " (not verified)")
                                : std::string());
    }
  }
  return out;
}

}  // namespace haven::app
