#pragma once
// Active HTTP checks of every server whose backend has a `check` table (HAProxy's
// `option httpchk`), and the one place that changes a server's state: check results and
// failures reported by traffic (passive checks) both end up here, on the checker's loop.
#include <chrono>
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
#include "haven/net/timer.hpp"
#include "haven/upstream/server.hpp"

namespace haven::health {

class Probe;

class Checker final : private net::HandleOwner {
 public:
  // Called on the checker's loop after a server went DOWN or failed a check: workers then re-send
  // the idempotent requests that wait on it in vain.
  using TroubleListener = std::function<void()>;

  Checker(net::Loop& loop, const std::vector<std::unique_ptr<upstream::Backend>>& backends, log::EventLog& events,
          TroubleListener on_trouble);
  ~Checker();
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  // Schedules the first check of every server, spread over the first moments.
  void start();
  // Closes every timer and probe; the loop can then end.
  void stop();

  // From any thread: real traffic failed to reach `server` `fall` times in a row.
  void report_traffic_failure(upstream::Server& server, std::string reason);

  // Called by a probe with its verdict.
  void on_probe_result(std::size_t check_index, bool ok, const std::string& reason, std::int64_t elapsed_ms,
                       bool no_verdict);

 private:
  struct ServerCheck {
    ServerCheck(net::Loop& loop, Checker& checker, upstream::Server& server, const config::Check& check,
                std::size_t index);
    Checker& checker;
    upstream::Server& server;
    const config::Check& check;
    std::size_t index;
    HealthState state;
    net::Timer timer;
    Probe* probe = nullptr;
    std::string request;  // the check request, built once
  };

  static void on_check_due(void* server_check) noexcept;
  static void on_reports(void* self) noexcept;
  void run_check(ServerCheck& check);
  void schedule(ServerCheck& check, core::Duration delay);
  void apply_change(upstream::Server& server, bool up, const std::string& why);
  void on_handle_closed() override {}

  net::Loop& loop_;
  log::EventLog& events_;
  TroubleListener on_trouble_;
  std::vector<std::unique_ptr<ServerCheck>> checks_;
  std::vector<const upstream::Backend*> backends_;
  std::vector<bool> backend_available_;
  net::Async reports_signal_;
  std::mutex reports_mutex_;
  std::vector<std::pair<upstream::Server*, std::string>> reports_;
  bool reports_closed_ = false;  // under reports_mutex_
  std::minstd_rand random_;
  bool stopped_ = false;
};

// Counts of a backend's servers that are up, for event lines.
struct TierCounts {
  int main_up = 0;
  int backup_up = 0;
};
TierCounts count_up(const upstream::Backend& backend);

}  // namespace haven::health
