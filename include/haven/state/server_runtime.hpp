#pragma once
// Everything about one server that changes while haven runs, apart from its configuration:
// operational state (UP/DOWN from checks and traffic), admin state (READY/DRAIN/MAINT, set by an
// operator), runtime weight, the last check and the traffic counters. Lives in the registry,
// keyed by backend and server name, so a reload that leaves a server's address and check alone
// keeps all of it; every snapshot that names the server shares it (shared_ptr).
//
// Threads: workers read the atomics and write `active`, `passive_failures` and `unreachable`; the
// checker's thread writes the operational state and the last check; the admin side (same thread as
// the checker) writes admin state and weight. Nothing here is locked on the request path.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "haven/config/config.hpp"
#include "haven/state/traffic_counters.hpp"

namespace haven::state {

enum class Health : std::uint8_t {
  Up,
  Down,
  Checking,  // added or changed by a reload, no check has passed yet: no traffic
};
enum class AdminState : std::uint8_t {
  Ready,  // takes traffic when healthy
  Drain,  // no new requests; those in flight and their keep-alive connections finish; still checked
  Maint,  // no traffic, no checks, idle connections closed
};

std::string_view health_name(Health health);         // "UP", "DOWN", "CHECKING"
std::string_view admin_state_name(AdminState state);  // "READY", "DRAIN", "MAINT"
std::optional<AdminState> parse_admin_state(std::string_view text);  // "ready", "drain", "maint"
std::string_view admin_state_word(AdminState state);  // what parse_admin_state reads: "ready", "drain", "maint"

// The last active check of a server, as the stats page shows it.
struct CheckReport {
  bool ran = false;
  bool ok = false;
  int status = 0;              // HTTP status of the probe's response, 0 without one
  std::int64_t duration_ms = 0;
  std::int64_t at_ms = 0;      // wall clock, milliseconds since the epoch
  std::string reason;          // "HTTP 200", "connection refused", "timeout after 1s"
};

// Wall-clock milliseconds since the epoch: the "since" of states and the time of reports.
std::int64_t wall_clock_ms();

// Weights are scaled by this inside the balancer, so that a slow start can give a server a small
// fraction of a weight of 1 (scaling every weight alike changes no share).
inline constexpr int kWeightScale = 16;
// The balancer weight of a server of weight `weight` that came UP at `up_since_ms` (0: long ago),
// at `now_ms`, ramping linearly over `slow_start_ms`: never 0 while the weight is not (a server
// that is UP takes some traffic), `weight * kWeightScale` once the ramp is over.
int ramped_weight(int weight, std::uint64_t up_since_ms, std::uint64_t now_ms, std::uint64_t slow_start_ms);

class ServerRuntime {
 public:
  // `check` is the backend's check table (nullopt: not checked). `health` is where it starts.
  // `tls_name` is "" for plain TCP, else the name TLS connections to it use (SNI, certificate).
  ServerRuntime(std::string backend, std::string name, config::Address address, std::string tls_name,
                std::optional<config::Check> check, Health health, std::shared_ptr<WorkerTraffic> traffic);

  // Identity: a reload keeps this entry only while these stay the same.
  const std::string backend;
  const std::string name;
  const std::string id;  // "backend/server", for logs
  const config::Address address;
  const std::string tls_name;  // pooled connections are plain or TLS to this name, never both
  const std::optional<config::Check> check;
  // Counters follow the name, whatever else changes (Prometheus counters never go back).
  const std::shared_ptr<WorkerTraffic> traffic;

  // --- operational state
  [[nodiscard]] Health health() const { return health_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::int64_t health_since_ms() const { return health_since_ms_.load(std::memory_order_relaxed); }
  // The checker's thread only. Returns false when the state was already `health`. `now_ms` (a
  // monotonic clock, as the loops' now_ms()) marks when an UP began, for slow start; 0 = unknown.
  bool set_health(Health health, std::uint64_t now_ms = 0);
  // When the server last came UP (monotonic ms), 0 when it has been UP since start-up or unknown.
  [[nodiscard]] std::uint64_t up_since_ms() const { return up_since_ms_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t health_changes() const { return health_changes_.load(std::memory_order_relaxed); }
  // Whether the health is a finding rather than a start-up assumption: the server is not checked,
  // a check has run, or the process this one replaced (upgrade in place) had checked it.
  [[nodiscard]] bool health_known() const {
    return !check || health_known_.load(std::memory_order_relaxed);
  }
  // The health the replaced process found (before the checker starts).
  void inherit_health(Health health) {
    set_health(health);
    health_known_.store(true, std::memory_order_relaxed);
  }

  std::atomic<int> active{0};            // requests in flight on this server, all workers (leastconn)
  // Consecutive connection failures seen by traffic since the last success (passive checks).
  std::atomic<int> passive_failures{0};
  // The last active check failed: the server may be hung, even before `fall` checks say DOWN.
  std::atomic<bool> failing_check{false};
  // Traffic found it unreachable (`fall` failures, a refused connection under on_refused =
  // "mark-down", or every server of the backend failed a request): no request goes to it until a
  // check or a real response proves it usable, so every answer about its backend (a maintenance
  // 503, a navigation's page) follows from the same state at once. Set by workers, cleared by the
  // checker and by responses.
  std::atomic<bool> unreachable{false};

  // UP and reachable: health allows traffic (whatever the admin state says).
  [[nodiscard]] bool healthy() const {
    return health() == Health::Up && !unreachable.load(std::memory_order_relaxed);
  }

  // --- admin state and weight (the admin side's thread writes)
  [[nodiscard]] AdminState admin_state() const { return admin_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::int64_t admin_since_ms() const { return admin_since_ms_.load(std::memory_order_relaxed); }
  // Returns false when it already was `state`.
  bool set_admin_state(AdminState state);
  // The operator's weight, or nullopt for the configured one.
  [[nodiscard]] std::optional<int> runtime_weight() const;
  // The weight a traffic shift gives it (its group's share spread over the group), or -1 when no
  // shift sets it. It wins over the operator's and the configured weight while set.
  [[nodiscard]] int shift_weight() const { return shift_weight_.load(std::memory_order_relaxed); }
  void set_shift_weight(int weight) { shift_weight_.store(weight, std::memory_order_relaxed); }
  void set_runtime_weight(std::optional<int> weight);
  // Copies admin state and weight from the entry this one replaces (a reload changed the server).
  void inherit_admin(const ServerRuntime& previous);

  // May take new requests: healthy and READY.
  [[nodiscard]] bool serving() const { return healthy() && admin_state() == AdminState::Ready; }
  // The weight the balancer uses: the runtime weight if set, else `configured`.
  [[nodiscard]] int effective_weight(int configured) const {
    const int runtime = runtime_weight_.load(std::memory_order_relaxed);
    return runtime >= 0 ? runtime : configured;
  }

  // A reload removed or replaced this entry: requests still on an older snapshot finish, but its
  // connections are not pooled any more.
  void retire() { retired_.store(true, std::memory_order_relaxed); }
  [[nodiscard]] bool retired() const { return retired_.load(std::memory_order_relaxed); }

  // --- last check (checker writes, admin reads; a mutex, never touched by traffic)
  void set_last_check(CheckReport report);
  [[nodiscard]] CheckReport last_check() const;

 private:
  std::atomic<Health> health_;
  std::atomic<std::int64_t> health_since_ms_;
  std::atomic<std::uint64_t> health_changes_{0};
  std::atomic<std::uint64_t> up_since_ms_{0};
  std::atomic<AdminState> admin_{AdminState::Ready};
  std::atomic<std::int64_t> admin_since_ms_;
  std::atomic<int> runtime_weight_{-1};  // -1: the configured weight
  std::atomic<int> shift_weight_{-1};    // -1: no shift sets it
  std::atomic<bool> health_known_{false};  // a check ran, or the health was inherited
  std::atomic<bool> retired_{false};
  mutable std::mutex check_mutex_;
  CheckReport last_check_;  // guarded by check_mutex_
};

}  // namespace haven::state
