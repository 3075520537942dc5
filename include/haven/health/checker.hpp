#pragma once
// Active HTTP checks of every server whose backend has a `check` table (HAProxy's
// `option httpchk`), and the one place that changes a server's operational state: check results
// and failures reported by traffic (passive checks) both end up here, on the checker's loop.
//
// A check belongs to a server's registry entry, not to a snapshot: a reload that keeps the entry
// keeps the check running with its rise/fall history; a new entry gets a new check.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "haven/health/health_state.hpp"
#include "haven/log/event_log.hpp"
#include "haven/net/async.hpp"
#include "haven/net/loop.hpp"
#include "haven/net/buffer_pool.hpp"
#include "haven/net/socket_address.hpp"
#include "haven/net/timer.hpp"
#include "haven/state/server_runtime.hpp"
#include "haven/upstream/server.hpp"

namespace haven::health {

class Probe;

class Checker final : private net::HandleOwner {
 public:
  // Called on the checker's loop after a server went DOWN or failed a check: workers then re-send
  // the idempotent requests that wait on it in vain.
  using TroubleListener = std::function<void()>;

  Checker(net::Loop& loop, log::EventLog& events, TroubleListener on_trouble);
  ~Checker();
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  // The backends of the snapshot in force (at start-up and after each reload). Checks of entries
  // that stay go on; entries no longer named lose theirs; new entries are checked at once. The
  // backends must outlive the next bind() or stop().
  void bind(const std::vector<std::unique_ptr<upstream::Backend>>& backends);
  // Closes every timer and probe; the loop can then end.
  void stop();

  // From any thread: real traffic failed to reach the server `fall` times in a row.
  void report_traffic_failure(std::shared_ptr<state::ServerRuntime> server, std::string reason);

  // Called by a probe with its verdict. `status` is the response's status code, 0 without one.
  void on_probe_result(std::uint64_t check_id, bool ok, int status, const std::string& reason,
                       std::int64_t elapsed_ms, bool no_verdict);

 private:
  // Owns its timer; once retired, it is freed when the timer has closed.
  struct ServerCheck final : net::HandleOwner {
    ServerCheck(net::Loop& loop, Checker& checker, std::shared_ptr<state::ServerRuntime> server, std::uint64_t id);
    void on_handle_closed() override;
    Checker& checker;
    const std::shared_ptr<state::ServerRuntime> server;
    // What is probed (method, path, host, accepted statuses): the entry's own copy, the same for
    // its whole life.
    const config::Check& probe_check;
    // How often and how patiently, from the configuration in force (a reload may change it).
    const config::Check* timing = nullptr;
    const std::uint64_t id;
    std::size_t backend_index = 0;  // in the bound backends
    HealthState state;
    net::Timer timer;
    net::SocketAddress address;
    Probe* probe = nullptr;
    std::string request;  // the check request, built once
  };

  static void on_check_due(void* server_check) noexcept;
  static void on_reports(void* self) noexcept;
  static void on_copies_due(void* self) noexcept;
  void run_check(ServerCheck& check);
  void schedule(ServerCheck& check, core::Duration delay);
  void retire(ServerCheck& check);
  ServerCheck* find(std::uint64_t id);
  void apply_change(ServerCheck& check, bool up, const std::string& why);
  void on_handle_closed() override;

  net::Loop& loop_;
  // Read buffers of running probes (at most one probe per server at a time).
  net::BufferPool buffers_;
  log::EventLog& events_;
  TroubleListener on_trouble_;
  std::vector<std::unique_ptr<ServerCheck>> checks_;
  std::vector<std::unique_ptr<ServerCheck>> retired_;  // timers closing
  const std::vector<std::unique_ptr<upstream::Backend>>* backends_ = nullptr;
  std::vector<bool> backend_available_;
  net::Async reports_signal_;
  net::Timer copies_timer_;  // re-evaluates backends served from last-good copies as they age
  std::mutex reports_mutex_;
  std::vector<std::pair<std::shared_ptr<state::ServerRuntime>, std::string>> reports_;  // under reports_mutex_
  bool reports_closed_ = false;  // under reports_mutex_
  std::minstd_rand random_;
  std::uint64_t next_check_id_ = 1;
  bool stopped_ = false;
};

// Counts of a backend's servers that may take requests, for event lines.
struct TierCounts {
  int main_up = 0;
  int backup_up = 0;
};
TierCounts count_up(const upstream::Backend& backend);

}  // namespace haven::health
