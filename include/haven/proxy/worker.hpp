#pragma once
// One event loop on its own thread: its listeners (one SO_REUSEPORT socket per frontend), its
// client connections, its upstream connection pool, its buffers and its access log. Nothing in here
// is shared with another worker except the Snapshot (read-only) and the connection counter.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "haven/health/checker.hpp"
#include "haven/http/message_parser.hpp"
#include "haven/log/access_log.hpp"
#include "haven/log/event_log.hpp"
#include "haven/net/async.hpp"
#include "haven/net/listener.hpp"
#include "haven/net/loop.hpp"
#include "haven/net/buffer_pool.hpp"
#include "haven/proxy/client_table.hpp"
#include "haven/proxy/snapshot.hpp"
#include "haven/proxy/worker_status_feed.hpp"
#include "haven/upstream/balancer.hpp"
#include "haven/upstream/connection.hpp"

namespace haven::proxy {

class DownstreamConnection;
class Exchange;

// Process-wide limits and counters every worker shares.
struct SharedCounters {
  explicit SharedCounters(int max_connections_per_client) : clients(max_connections_per_client) {}
  std::atomic<int> connections{0};
  int max_connections = 20000;
  ClientTable clients;  // connections per client address
};

class Worker final : private net::HandleOwner {
 public:
  Worker(int id, std::shared_ptr<const Snapshot> snapshot, SharedCounters& shared,
         std::shared_ptr<log::Output> access_output, std::shared_ptr<log::EventLog> events);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens one listener per frontend. `ports[i]` replaces a frontend's port 0 (so every worker
  // shares the port the first one got) and is filled in when it was 0. `inherited[i]`, when given,
  // are listening sockets for frontend i from the process this one replaces (upgrade in place):
  // accepted on instead of binding; closed on failure. Returns "" or an error.
  std::string listen(std::vector<std::uint16_t>& ports, std::vector<std::vector<int>> inherited = {});
  // From the supervisor's thread: this worker's listening sockets with their frontends' names,
  // for the binary that replaces this process. They stay open (and this worker's) until the
  // supervisor next changes the configuration or stops the worker, which it does not while it
  // hands them over. Waits for the worker's loop to answer (at most kListenerRequestTimeout);
  // none once the worker drains.
  std::vector<std::pair<std::string, int>> listening_sockets();
  // Runs the loop on the calling thread until shutdown completes, then calls `on_stopped` (from
  // that thread).
  void run(const std::function<void()>& on_stopped);
  // From any thread: stop accepting, finish in-flight requests within the grace time, then exit.
  void request_shutdown();
  // Where traffic failures are reported (passive checks); set before run().
  void set_checker(health::Checker* checker) { checker_ = checker; }
  // From any thread: some server went DOWN or failed a check; requests waiting on it in vain are
  // re-sent elsewhere.
  void notify_server_trouble() { server_trouble_signal_.send(); }
  // From any thread: a server's admin state or weight changed; idle connections to servers that
  // may no longer take requests are closed.
  void notify_admin_change() { admin_change_signal_.send(); }
  // From any thread: some backend's mode changed; status-feed subscribers get the new state.
  void notify_status_change() { status_signal_.send(); }

  // From any thread: the configuration after a reload. For the new config's frontend i, either
  // `keep[i]` is the index of the running frontend whose listener it takes over, or
  // `listener_fds[i]` a new listening socket (Listener::bind_socket); -1 where unused. Running
  // frontends nobody keeps stop accepting. Sockets of a change never applied are closed.
  void adopt_snapshot(std::shared_ptr<const Snapshot> snapshot, std::vector<int> keep, std::vector<int> listener_fds);
  // The configuration in force on this worker (its own thread only).
  [[nodiscard]] const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }

  // For connections and exchanges.
  [[nodiscard]] std::size_t id() const { return static_cast<std::size_t>(id_); }
  net::Loop& loop() { return loop_; }
  net::BufferPool& buffers() { return buffers_; }
  upstream::ConnectionPool& connections() { return connections_; }
  log::AccessLog& access_log() { return access_log_; }
  log::EventLog& events() { return *events_; }
  WorkerStatusFeed& status_feed() { return status_feed_; }
  // Per-request state, recycled: a request costs no allocation once the pool is warm. A released
  // exchange is reused only after the current callbacks return (the loop's next turn), so code
  // still on the stack of the exchange that ended never sees it start over.
  Exchange* acquire_exchange();
  void release_exchange(Exchange* exchange);
  [[nodiscard]] bool draining() const { return draining_; }
  health::Checker* checker() { return checker_; }
  void on_connection_closed(DownstreamConnection* connection);
  // A client over max_connections_per_client: a 429 written straight to the new socket (no
  // session, no buffer: it must cost less than serving), then closed; on a TLS frontend only
  // closed.
  void refuse_over_limit(int fd, const sockaddr* peer, const ClientTable::Admission& admission, bool tls);
  // Request header fields left out for a '_' in their names: counted, and said in the event log
  // at once the first time, then at most once a minute with the count since.
  void count_dropped_headers(std::size_t count);
  // Last-good copies: whether the answer of hash `hash` (a URL, or a URL and its Vary values)
  // was looked at for copying by this worker less than a second ago; then it is not again, and
  // no lock is taken. `varies` tells whether the URL's answers had Vary (then only the variant's
  // hash says). A hash sharing a slot with another is only checked the slow way.
  [[nodiscard]] bool copied_recently(std::size_t hash, std::uint64_t now_ms, bool* varies = nullptr) const {
    const CopySlot& slot = copy_slots_[hash % copy_slots_.size()];
    if (slot.hash != hash || now_ms - slot.at_ms >= state::StaleStore::kRefreshMs) return false;
    if (varies != nullptr) *varies = slot.varies;
    return true;
  }
  void note_copied(std::size_t hash, std::uint64_t now_ms, bool varies) {
    copy_slots_[hash % copy_slots_.size()] = {hash, now_ms, varies};
  }

 private:
  class FrontendAcceptor;
  void on_handle_closed() override;
  void begin_shutdown();
  void maybe_finish_shutdown();
  void finish_shutdown();
  void report_dropped_headers();
  static void on_shutdown_requested(void* self) noexcept;
  static void on_server_trouble(void* self) noexcept;
  static void on_admin_change(void* self) noexcept;
  static void on_status_change(void* self) noexcept;
  static void on_status_heartbeat(void* self) noexcept;
  // (Re)starts the heartbeat timer when the configured interval changed.
  void start_status_heartbeat();
  static void on_snapshot_change(void* self) noexcept;
  static void on_listeners_requested(void* self) noexcept;
  static constexpr std::chrono::seconds kListenerRequestTimeout{5};
  struct PendingSnapshot {
    std::shared_ptr<const Snapshot> snapshot;
    std::vector<int> keep;
    std::vector<int> listener_fds;
  };
  void apply_snapshot(PendingSnapshot change);
  static void on_before_poll(void* self) noexcept;
  static void on_grace_expired(void* self) noexcept;
  static void on_trim(void* self) noexcept;

  const int id_;
  net::Loop loop_;
  std::shared_ptr<const Snapshot> snapshot_;
  SharedCounters& shared_;
  std::shared_ptr<log::EventLog> events_;
  log::AccessLog access_log_;
  net::BufferPool buffers_;
  upstream::ConnectionPool connections_;
  std::vector<Exchange*> free_exchanges_;
  std::vector<Exchange*> released_exchanges_;  // free from the loop's next turn
  std::size_t exchanges_in_use_ = 0;
  std::size_t peak_exchanges_in_use_ = 0;  // since the last trim
  std::vector<std::unique_ptr<FrontendAcceptor>> acceptors_;  // [i] serves frontend i (nullptr: none)
  net::Async shutdown_signal_;
  net::Async server_trouble_signal_;
  net::Async admin_change_signal_;
  net::Async status_signal_;
  WorkerStatusFeed status_feed_;
  net::Timer status_heartbeat_;
  core::Duration status_heartbeat_interval_{0};
  net::Async snapshot_signal_;
  std::mutex pending_mutex_;
  std::vector<PendingSnapshot> pending_;  // under pending_mutex_
  bool pending_closed_ = false;           // under pending_mutex_
  net::Async listeners_signal_;
  // listening_sockets() callers waiting for this loop; under pending_mutex_
  struct ListenerRequest;
  std::vector<std::shared_ptr<ListenerRequest>> listener_requests_;
  std::vector<std::unique_ptr<FrontendAcceptor>> retired_acceptors_;  // closing; freed once closed
  health::Checker* checker_ = nullptr;
  net::BeforePoll flush_logs_;
  net::Timer grace_timer_;
  net::Timer trim_timer_;  // gives back pooled memory that recent load did not need
  DownstreamConnection* connections_list_ = nullptr;  // intrusive list of live client connections
  struct CopySlot {
    std::size_t hash = 0;
    std::uint64_t at_ms = 0;
    bool varies = false;
  };
  std::array<CopySlot, 1024> copy_slots_{};
  std::uint64_t dropped_headers_unreported_ = 0;
  std::uint64_t dropped_headers_reported_ms_ = 0;
  bool dropped_headers_ever_reported_ = false;
  bool draining_ = false;
  bool finished_ = false;
  bool ran_ = false;

};

}  // namespace haven::proxy
