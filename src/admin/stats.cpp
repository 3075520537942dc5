#include "haven/admin/stats.hpp"

#include <algorithm>
#include <array>
#include <chrono>

#include "haven/upstream/balancer.hpp"

namespace haven::admin {

namespace {

std::string host_port(const config::Address& address, std::uint16_t port) {
  const std::string host = address.is_ipv6 ? "[" + address.host + "]" : address.host;
  return host + ":" + std::to_string(port);
}

ServerStats server_stats(const upstream::Server& server, bool serving, const History& history,
                         std::uint64_t slow_start_ms) {
  const state::ServerRuntime& runtime = server.runtime;
  ServerStats stats;
  stats.name = server.config.name;
  stats.address = server.config.address.text;
  stats.tls_name = server.runtime.tls_name;
  stats.group = server.config.group;
  stats.backup = server.config.backup;
  stats.serving = serving;
  stats.checked = runtime.check.has_value();
  stats.health = runtime.health();
  stats.health_since_ms = runtime.health_since_ms();
  stats.health_changes = runtime.health_changes();
  stats.admin = runtime.admin_state();
  stats.admin_since_ms = runtime.admin_since_ms();
  stats.weight_configured = server.config.weight;
  stats.weight_runtime = runtime.runtime_weight();
  if (runtime.shift_weight() >= 0) stats.weight_shift = runtime.shift_weight();
  // What the balancer uses now, slow start included (the loops' clock is CLOCK_MONOTONIC too).
  const auto now = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::steady_clock::now().time_since_epoch())
                                                  .count());
  const int scaled = server.balancer_weight(now, slow_start_ms);
  stats.weight_effective = (scaled + state::kWeightScale - 1) / state::kWeightScale;
  stats.active = runtime.active.load(std::memory_order_relaxed);
  stats.last_check = runtime.last_check();
  stats.traffic = state::sum(*runtime.traffic);
  stats.rates = history.rates(history_key_server(runtime.backend, runtime.name));
  return stats;
}

}  // namespace

std::string history_key_frontend(std::string_view name) { return "f/" + std::string(name); }
std::string history_key_backend(std::string_view name) { return "b/" + std::string(name); }
std::string history_key_server(std::string_view backend, std::string_view server) {
  return "s/" + std::string(backend) + "/" + std::string(server);
}

std::uint64_t error_count(const state::TrafficTotals& traffic) {
  return traffic.responses[4] + traffic.responses[state::kStatusClasses - 1];
}

Stats collect_stats(const Inventory& inventory, const History& history, ProcessStats process) {
  Stats stats;
  stats.process = std::move(process);
  const config::Config& config = *inventory.config;
  for (std::size_t i = 0; i < inventory.frontends.size(); ++i) {
    const auto& frontend = *inventory.frontends[i];
    FrontendStats entry;
    entry.name = frontend.name;
    const std::uint16_t port = i < inventory.frontend_ports.size() ? inventory.frontend_ports[i] : 0;
    entry.bind = host_port(config.frontends[i].bind, port != 0 ? port : config.frontends[i].bind.port);
    entry.traffic = state::sum(*frontend.traffic);
    entry.rates = history.rates(history_key_frontend(frontend.name));
    if (i < inventory.frontend_certificates.size()) entry.certificates = inventory.frontend_certificates[i];
    stats.frontends.push_back(std::move(entry));
  }
  for (const upstream::Backend* backend : inventory.backends) {
    BackendStats entry;
    entry.name = backend->config.name;
    entry.balance = config::balance_name(backend->config.balance);
    entry.traffic = state::sum(*backend->runtime->traffic);
    entry.rates = history.rates(history_key_backend(backend->config.name));
    // The same view of the servers the balancer takes.
    std::array<upstream::Candidate, config::kMaxServersPerBackend> candidates;
    const std::size_t count = std::min(backend->servers.size(), candidates.size());
    for (std::size_t s = 0; s < count; ++s) {
      const auto& server = *backend->servers[s];
      candidates[s] = {server.serving(), server.config.backup, server.weight(),
                       server.runtime.active.load(std::memory_order_relaxed)};
    }
    const std::span<const upstream::Candidate> view(candidates.data(), count);
    const state::StatusRecord status = backend->runtime->status.read();
    entry.mode = status.mode;
    entry.mode_since_ms = status.since_ms;
    entry.mode_reason = status.reason;
    if (backend->stale != nullptr) entry.stale = backend->stale->counters();
    const std::size_t index = stats.backends.size();
    if (index < inventory.shifts.size()) entry.shift = inventory.shifts[index];
    for (const auto& server : backend->servers) {
      const std::string& group = server->config.group;
      if (!group.empty() && std::find(entry.groups.begin(), entry.groups.end(), group) == entry.groups.end()) {
        entry.groups.push_back(group);
      }
    }
    for (std::size_t s = 0; s < count; ++s) {
      const auto& server = *backend->servers[s];
      const bool serving = upstream::in_service(view, s, backend->config.all_backups);
      (server.config.backup ? entry.backup_total : entry.main_total) += 1;
      if (server.serving()) (server.config.backup ? entry.backup_serving : entry.main_serving) += 1;
      entry.servers.push_back(server_stats(server, serving, history,
                                           static_cast<std::uint64_t>(backend->config.slow_start.count())));
    }
    stats.backends.push_back(std::move(entry));
  }
  return stats;
}

void sample_history(History& history, const Inventory& inventory, std::int64_t now_ms) {
  std::set<std::string> keys;
  const auto record = [&](std::string key, const state::WorkerTraffic& traffic) {
    const state::TrafficTotals totals = state::sum(traffic);
    history.record(key, totals.requests, error_count(totals), now_ms);
    keys.insert(std::move(key));
  };
  for (const auto& frontend : inventory.frontends) record(history_key_frontend(frontend->name), *frontend->traffic);
  for (const upstream::Backend* backend : inventory.backends) {
    record(history_key_backend(backend->config.name), *backend->runtime->traffic);
    for (const auto& server : backend->servers) {
      record(history_key_server(backend->config.name, server->config.name), *server->runtime.traffic);
    }
  }
  history.keep_only(keys);
}

}  // namespace haven::admin
