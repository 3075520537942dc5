#pragma once
// The long-lived runtime state of every frontend, backend and server, keyed by name. A
// configuration (at start-up, or on each reload) is bound to it: entries whose name survives keep
// their state; a server keeps its health only while its address and check stay the same, and its
// admin state, runtime weight and counters as long as its name does.
//
// bind() and the lookups run on the supervisor's thread (start-up, reload, admin API); workers
// only ever hold the entries a snapshot gave them.
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "haven/config/config.hpp"
#include "haven/state/backend_status.hpp"
#include "haven/state/stale_store.hpp"
#include "haven/state/server_runtime.hpp"
#include "haven/state/traffic_counters.hpp"

namespace haven::state {

struct FrontendRuntime {
  FrontendRuntime(std::string frontend_name, std::size_t workers)
      : name(std::move(frontend_name)), traffic(std::make_shared<WorkerTraffic>(workers)) {}
  const std::string name;
  const std::shared_ptr<WorkerTraffic> traffic;
};

// Per worker and backend: round-robin position and smooth weighted round-robin weights. Kept
// with the backend's registry entry, so a reload neither resets nor mixes them up.
struct BalancerState {
  std::vector<int> current_weight;
  std::size_t next = 0;
};

struct BackendRuntime {
  BackendRuntime(std::string backend_name, std::size_t workers, std::shared_ptr<StatusSignal> status_signal)
      : name(std::move(backend_name)),
        traffic(std::make_shared<WorkerTraffic>(workers)),
        balancer(workers),
        status(wall_clock_ms(), std::move(status_signal)) {}
  const std::string name;
  const std::shared_ptr<WorkerTraffic> traffic;
  PerWorker<BalancerState> balancer;  // each worker touches only its own
  BackendStatus status;               // how routing serves it now (the status feed)
};

// The entries one configuration uses, in its order.
struct Binding {
  std::vector<std::shared_ptr<FrontendRuntime>> frontends;
  std::vector<std::shared_ptr<BackendRuntime>> backends;
  std::vector<std::vector<std::shared_ptr<ServerRuntime>>> servers;  // [backend][server]
  std::vector<std::shared_ptr<StaleStore>> stale;  // [backend]; nullptr without stale_if_error
};

// What a bind changed, by "backend/server" id, for the reload's event lines.
struct BindChanges {
  std::vector<std::string> added;
  std::vector<std::string> changed;  // address or check differs: health starts over
  std::vector<std::string> removed;
};

class Registry {
 public:
  explicit Registry(std::size_t workers) : workers_(workers) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Binds `config`. At start-up every server begins UP; later, an added or changed server begins
  // CHECKING when its backend is checked and asks for it (init_state). Entries the config no longer
  // names leave the registry (snapshots still holding them keep them alive).
  Binding bind(const config::Config& config, bool start_up, BindChanges* changes = nullptr);

  // The server's entry, or nullptr.
  [[nodiscard]] std::shared_ptr<ServerRuntime> find_server(std::string_view backend, std::string_view server) const;
  [[nodiscard]] std::size_t workers() const { return workers_; }
  // Rings when any backend's mode changes (BackendStatus::update).
  [[nodiscard]] StatusSignal& status_signal() { return *status_signal_; }

 private:
  const std::size_t workers_;
  const std::shared_ptr<StatusSignal> status_signal_ = std::make_shared<StatusSignal>();
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<FrontendRuntime>, std::less<>> frontends_;
  std::map<std::string, std::shared_ptr<BackendRuntime>, std::less<>> backends_;
  std::map<std::string, std::shared_ptr<ServerRuntime>, std::less<>> servers_;  // by "backend/server"
  // Last-good copies by backend name: kept across reloads while the backend keeps stale_if_error.
  std::map<std::string, std::shared_ptr<StaleStore>, std::less<>> stale_;
};

}  // namespace haven::state
