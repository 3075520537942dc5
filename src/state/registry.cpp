#include "haven/state/registry.hpp"

namespace haven::state {

namespace {

std::string server_key(std::string_view backend, std::string_view server) {
  std::string key;
  key.reserve(backend.size() + 1 + server.size());
  key.append(backend).append("/").append(server);
  return key;
}

// Looks `name` up in `previous` and moves it to `next`, or creates it there.
template <typename Entry, typename... Extra>
std::shared_ptr<Entry> carry_or_create(std::map<std::string, std::shared_ptr<Entry>, std::less<>>& previous,
                                       std::map<std::string, std::shared_ptr<Entry>, std::less<>>& next,
                                       const std::string& name, std::size_t workers, const Extra&... extra) {
  std::shared_ptr<Entry> entry;
  if (auto found = previous.find(name); found != previous.end()) {
    entry = found->second;
  } else {
    entry = std::make_shared<Entry>(name, workers, extra...);
  }
  next[name] = entry;
  return entry;
}

// Whether a configured server is still what `entry` checked: the same endpoint (plain, or TLS to
// the same name) probed the same way (how often or how patiently does not matter).
bool same_target(const ServerRuntime& entry, const config::Server& server, const config::Backend& backend) {
  if (!entry.address.same_endpoint(server.address)) return false;
  if (entry.tls_name != (server.tls ? server.sni : std::string())) return false;
  if (entry.check.has_value() != backend.check.has_value()) return false;
  return !entry.check || entry.check->same_probe(*backend.check);
}

}  // namespace

Binding Registry::bind(const config::Config& config, bool start_up, BindChanges* changes) {
  const std::lock_guard lock(mutex_);
  Binding binding;
  decltype(frontends_) frontends;
  decltype(backends_) backends;
  decltype(servers_) servers;
  decltype(stale_) stale;

  for (const auto& frontend : config.frontends) {
    binding.frontends.push_back(carry_or_create(frontends_, frontends, frontend.name, workers_));
  }
  for (const auto& backend : config.backends) {
    binding.backends.push_back(carry_or_create(backends_, backends, backend.name, workers_, status_signal_));
    std::shared_ptr<StaleStore> store;
    if (backend.stale_if_error.enabled) {
      const auto& settings = backend.stale_if_error;
      const StaleLimits limits{static_cast<std::uint64_t>(settings.max_age.count()), settings.max_entry,
                               settings.max_total, static_cast<std::uint64_t>(settings.probe_interval.count())};
      if (const auto found = stale_.find(backend.name); found != stale_.end()) {
        store = found->second;
        store->set_limits(limits);
      } else {
        store = std::make_shared<StaleStore>(limits);
      }
      stale[backend.name] = store;
    }
    binding.stale.push_back(std::move(store));
    auto& bound_servers = binding.servers.emplace_back();
    for (const auto& server : backend.servers) {
      const std::string key = server_key(backend.name, server.name);
      std::shared_ptr<ServerRuntime> entry;
      const auto found = servers_.find(key);
      const ServerRuntime* previous = found != servers_.end() ? found->second.get() : nullptr;
      if (previous != nullptr && same_target(*previous, server, backend)) {
        entry = found->second;
      } else {
        const bool checking = !start_up && backend.check && backend.init_checking;
        entry = std::make_shared<ServerRuntime>(backend.name, server.name, server.address,
                                                server.tls ? server.sni : std::string(), backend.check,
                                                checking ? Health::Checking : Health::Up,
                                                previous != nullptr ? previous->traffic
                                                                    : std::make_shared<WorkerTraffic>(workers_));
        if (previous != nullptr) entry->inherit_admin(*previous);
        if (changes != nullptr) (previous != nullptr ? changes->changed : changes->added).push_back(key);
      }
      if (previous != nullptr && entry.get() != previous) found->second->retire();
      servers[key] = entry;
      bound_servers.push_back(std::move(entry));
    }
  }
  for (const auto& [key, entry] : servers_) {
    if (servers.contains(key)) continue;
    entry->retire();
    if (changes != nullptr) changes->removed.push_back(key);
  }
  frontends_ = std::move(frontends);
  backends_ = std::move(backends);
  servers_ = std::move(servers);
  stale_ = std::move(stale);
  return binding;
}

std::shared_ptr<ServerRuntime> Registry::find_server(std::string_view backend, std::string_view server) const {
  const std::lock_guard lock(mutex_);
  const auto found = servers_.find(server_key(backend, server));
  return found != servers_.end() ? found->second : nullptr;
}

}  // namespace haven::state
