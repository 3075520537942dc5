#include "haven/admin/health.hpp"

#include <fmt/format.h>

#include "haven/core/json_text.hpp"

namespace haven::admin {

HealthReport health_report(const Inventory& inventory, bool needs_serving) {
  HealthReport report;
  report.needs_serving = needs_serving;
  const config::Config& config = *inventory.config;
  for (std::size_t i = 0; i < config.frontends.size(); ++i) {
    const config::Frontend& frontend = config.frontends[i];
    FrontendHealth entry;
    entry.name = frontend.name;
    // A listener on every address is checked on loopback, where the tracking script runs.
    entry.host = frontend.bind.host == "0.0.0.0" ? "127.0.0.1" : frontend.bind.host == "::" ? "::1" : frontend.bind.host;
    entry.port = i < inventory.frontend_ports.size() && inventory.frontend_ports[i] != 0 ? inventory.frontend_ports[i]
                                                                                           : frontend.bind.port;
    bool only_unchecked = false;
    for (const std::size_t index : frontend.status_backend_indexes) {
      ++entry.backends;
      if (index >= inventory.backends.size()) continue;
      // Servers start UP, but a floating address must not come to a node on that assumption: a
      // node whose servers are all unreachable would take it and answer 503 until the first
      // checks fail. Only a server whose health was found counts.
      bool serving = false;
      for (const auto& server : inventory.backends[index]->servers) {
        if (!server->serving()) continue;
        if (server->runtime.health_known()) serving = true;
        else only_unchecked = true;
      }
      if (serving) ++entry.serving_backends;
    }
    if (needs_serving && entry.serving_backends == 0) {
      report.healthy = false;
      report.problems.push_back(
          only_unchecked
              ? fmt::format("frontend {}: no server of its {} backend{} has passed a check yet", frontend.name,
                            entry.backends, entry.backends == 1 ? "" : "s")
              : fmt::format("frontend {}: none of its {} backend{} has a server that may take requests", frontend.name,
                            entry.backends, entry.backends == 1 ? "" : "s"));
    }
    report.frontends.push_back(std::move(entry));
  }
  return report;
}

std::string render_health_json(const HealthReport& report) {
  std::string out = report.healthy ? R"({"healthy":true,"rule":)" : R"({"healthy":false,"rule":)";
  out += report.needs_serving ? R"("serving","frontends":[)" : R"("running","frontends":[)";
  for (std::size_t i = 0; i < report.frontends.size(); ++i) {
    const FrontendHealth& f = report.frontends[i];
    if (i > 0) out += ',';
    out += R"({"name":)";
    core::append_json_string(out, f.name);
    out += R"(,"host":)";
    core::append_json_string(out, f.host);
    out += fmt::format(R"(,"port":{},"backends":{},"serving_backends":{}}})", f.port, f.backends, f.serving_backends);
  }
  out += R"(],"problems":[)";
  for (std::size_t i = 0; i < report.problems.size(); ++i) {
    if (i > 0) out += ',';
    core::append_json_string(out, report.problems[i]);
  }
  out += "]}\n";
  return out;
}

}  // namespace haven::admin
