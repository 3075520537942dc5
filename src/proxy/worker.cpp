#include "haven/proxy/worker.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "haven/fallback/error_responses.hpp"
#include "haven/net/socket_address.hpp"
#include "haven/proxy/exchange.hpp"
#include "haven/proxy/http1_connection.hpp"

namespace haven::proxy {

namespace {
constexpr std::size_t kMinFreeExchanges = 16;
// How often pools give back what the load since the last time did not need: short enough that a
// burst's memory returns within a second, long enough that steady load never allocates.
constexpr core::Duration kTrimInterval{500};
}  // namespace

// Accepts for one frontend and hands sockets to new connections. A reload that keeps the frontend's
// bind keeps the acceptor (and its sockets) and only tells it the frontend's new index. Usually one
// socket per worker; a worker of a binary upgraded in place with fewer workers than the old one
// accepts on several, since closing any of them would reset the connections waiting in its queue.
class Worker::FrontendAcceptor final : public net::AcceptHandler, private net::HandleOwner {
 public:
  FrontendAcceptor(Worker& worker, std::size_t frontend_index) : worker_(worker), frontend_index_(frontend_index) {}

  void set_frontend_index(std::size_t index) { frontend_index_ = index; }
  // Opens a listener of its own on `address`. Returns 0 or a negative errno; `error` says what failed.
  int open(const net::SocketAddress& address, std::string& error) {
    return listeners_.emplace_back(std::make_unique<net::Listener>(worker_.loop_, *this))->open(address, error);
  }
  // Accepts on a listening socket made elsewhere (a reload, the process this one replaced).
  void adopt(int fd) { listeners_.emplace_back(std::make_unique<net::Listener>(worker_.loop_, *this))->adopt(fd); }
  // Stops accepting for good (the frontend is gone, or the worker drains); closed() once every
  // socket is.
  void retire() {
    for (auto& listener : listeners_) {
      if (!listener->closing()) {
        ++pending_closes_;
        listener->close(this);
      }
    }
  }
  [[nodiscard]] bool closed() const { return pending_closes_ == 0; }
  void resume() {
    for (auto& listener : listeners_) listener->resume();
  }
  [[nodiscard]] std::uint16_t port() const { return listeners_.empty() ? 0 : listeners_.front()->port(); }
  // Its listening sockets, appended to `out`.
  void sockets(std::vector<int>& out) const {
    for (const auto& listener : listeners_) {
      if (listener->fd() >= 0) out.push_back(listener->fd());
    }
  }

  void on_accept(int fd, const sockaddr* peer) override {
    auto& counters = (*worker_.snapshot_->frontends[frontend_index_]->traffic)[worker_.id()];
    std::optional<ClientKey> client;
    if (worker_.shared_.clients.limit() != 0) client = ClientKey::from(peer);
    if (client) {
      const auto admission = worker_.shared_.clients.admit(*client, worker_.loop_.now_ms());
      if (!admission.admitted) {
        counters.refused_connections.add();
        const bool tls = worker_.snapshot_->config->frontends[frontend_index_].tls.enabled();
        worker_.refuse_over_limit(fd, peer, admission, tls);
        return;
      }
    }
    counters.connections.add();
    counters.active.add(1);
    worker_.shared_.connections.fetch_add(1, std::memory_order_relaxed);
    DownstreamConnection* connection = new Http1Connection(worker_, worker_.snapshot_, frontend_index_);
    connection->client_key_ = client;
    connection->next_ = worker_.connections_list_;
    if (worker_.connections_list_ != nullptr) worker_.connections_list_->prev_ = connection;
    worker_.connections_list_ = connection;
    connection->start(fd, peer);
  }

  bool can_accept() override {
    return !worker_.draining_ &&
           worker_.shared_.connections.load(std::memory_order_relaxed) < worker_.shared_.max_connections;
  }

 private:
  void on_handle_closed() override { --pending_closes_; }

  Worker& worker_;
  std::size_t frontend_index_;
  std::vector<std::unique_ptr<net::Listener>> listeners_;
  int pending_closes_ = 0;
};

Worker::Worker(int id, std::shared_ptr<const Snapshot> snapshot, SharedCounters& shared,
               std::shared_ptr<log::Output> access_output, std::shared_ptr<log::EventLog> events)
    : id_(id),
      snapshot_(std::move(snapshot)),
      shared_(shared),
      events_(std::move(events)),
      access_log_(std::move(access_output), snapshot_->config->log.format),
      connections_(loop_, buffers_, static_cast<std::size_t>(id)),
      shutdown_signal_(loop_, &Worker::on_shutdown_requested, this),
      server_trouble_signal_(loop_, &Worker::on_server_trouble, this),
      admin_change_signal_(loop_, &Worker::on_admin_change, this),
      status_signal_(loop_, &Worker::on_status_change, this),
      status_heartbeat_(loop_, &Worker::on_status_heartbeat, this),
      snapshot_signal_(loop_, &Worker::on_snapshot_change, this),
      listeners_signal_(loop_, &Worker::on_listeners_requested, this),
      flush_logs_(loop_, &Worker::on_before_poll, this),
      grace_timer_(loop_, &Worker::on_grace_expired, this),
      trim_timer_(loop_, &Worker::on_trim, this) {
  trim_timer_.start(kTrimInterval, kTrimInterval);
  start_status_heartbeat();
}

void Worker::start_status_heartbeat() {
  const core::Duration interval = snapshot_->config->global.status_heartbeat;
  if (interval == status_heartbeat_interval_) return;
  status_heartbeat_interval_ = interval;
  status_heartbeat_.start(interval, interval);
}


Worker::~Worker() {
  if (!ran_) {
    // Never ran (start-up failed): its handles must still be closed, and libuv must let go of
    // them, before their memory goes.
    finish_shutdown();
    loop_.run();
  }
  for (Exchange* exchange : free_exchanges_) delete exchange;
  for (Exchange* exchange : released_exchanges_) delete exchange;
}

Exchange* Worker::acquire_exchange() {
  peak_exchanges_in_use_ = std::max(peak_exchanges_in_use_, ++exchanges_in_use_);
  if (free_exchanges_.empty()) return new Exchange(*this);
  Exchange* exchange = free_exchanges_.back();
  free_exchanges_.pop_back();
  return exchange;
}

void Worker::release_exchange(Exchange* exchange) {
  exchange->end_use();
  --exchanges_in_use_;
  released_exchanges_.push_back(exchange);
}

void Worker::on_trim(void* self) noexcept {
  auto& worker = *static_cast<Worker*>(self);
  std::erase_if(worker.retired_acceptors_, [](const auto& acceptor) { return acceptor->closed(); });
  worker.report_dropped_headers();
  worker.buffers_.trim();
  const std::size_t in_use = worker.exchanges_in_use_;
  const std::size_t keep = std::max(kMinFreeExchanges,
                                    worker.peak_exchanges_in_use_ > in_use ? worker.peak_exchanges_in_use_ - in_use : 0);
  while (worker.free_exchanges_.size() > keep) {
    delete worker.free_exchanges_.back();
    worker.free_exchanges_.pop_back();
  }
  worker.peak_exchanges_in_use_ = in_use;
}

std::string Worker::listen(std::vector<std::uint16_t>& ports, std::vector<std::vector<int>> inherited) {
  const auto& frontends = snapshot_->config->frontends;
  ports.resize(frontends.size(), 0);
  inherited.resize(frontends.size());
  const auto close_inherited = [&inherited] {
    for (auto& rest : inherited) {
      for (const int fd : rest) ::close(fd);
    }
  };
  for (std::size_t i = 0; i < frontends.size(); ++i) {
    // Owned before it can fail: its handles are closed with the worker's.
    acceptors_.push_back(std::make_unique<FrontendAcceptor>(*this, i));
    if (!inherited[i].empty()) {
      for (const int fd : inherited[i]) acceptors_.back()->adopt(fd);
      inherited[i].clear();
      if (ports[i] == 0) ports[i] = acceptors_.back()->port();
      continue;
    }
    const auto& bind = frontends[i].bind;
    net::SocketAddress address;
    const std::uint16_t port = ports[i] != 0 ? ports[i] : bind.port;
    if (!address.assign(bind.host, port)) {
      close_inherited();
      return fmt::format("frontend {}: bad bind address {}", frontends[i].name, bind.text);
    }
    std::string error;
    if (acceptors_.back()->open(address, error) != 0) {
      close_inherited();
      return fmt::format("frontend {}: cannot listen on {}: {}", frontends[i].name, bind.text, error);
    }
    ports[i] = acceptors_.back()->port();
  }
  return {};
}

// One supervisor's question to a worker's loop, answered under its own lock (a mutex and a
// condition variable, which every thread tool sees, rather than a future).
struct Worker::ListenerRequest {
  std::mutex mutex;
  std::condition_variable answered_cv;
  bool answered = false;
  std::vector<std::pair<std::string, int>> sockets;

  void answer(std::vector<std::pair<std::string, int>> result) {
    const std::lock_guard lock(mutex);
    if (answered) return;  // the supervisor gave up waiting
    sockets = std::move(result);
    answered = true;
    answered_cv.notify_all();
  }
};

std::vector<std::pair<std::string, int>> Worker::listening_sockets() {
  auto request = std::make_shared<ListenerRequest>();
  {
    const std::lock_guard lock(pending_mutex_);
    if (pending_closed_) return {};
    listener_requests_.push_back(request);
  }
  listeners_signal_.send();
  std::unique_lock lock(request->mutex);
  if (!request->answered_cv.wait_for(lock, kListenerRequestTimeout, [&] { return request->answered; })) {
    request->answered = true;  // a late answer is dropped
    return {};
  }
  return std::move(request->sockets);
}

void Worker::on_listeners_requested(void* self) noexcept {
  auto& worker = *static_cast<Worker*>(self);
  // A reload handed over before the request is in force first: the sockets are those of the
  // configuration the supervisor knows.
  on_snapshot_change(self);
  std::vector<std::shared_ptr<ListenerRequest>> requests;
  {
    const std::lock_guard lock(worker.pending_mutex_);
    requests.swap(worker.listener_requests_);
  }
  for (auto& request : requests) {
    std::vector<std::pair<std::string, int>> sockets;
    if (!worker.draining_) {
      for (std::size_t i = 0; i < worker.acceptors_.size(); ++i) {
        if (worker.acceptors_[i] == nullptr) continue;
        std::vector<int> fds;
        worker.acceptors_[i]->sockets(fds);
        for (const int fd : fds) sockets.emplace_back(worker.snapshot_->config->frontends[i].name, fd);
      }
    }
    request->answer(std::move(sockets));
  }
}

void Worker::run(const std::function<void()>& on_stopped) {
  ran_ = true;
  loop_.run();
  loop_.close();
  if (on_stopped) on_stopped();
}


void Worker::request_shutdown() { shutdown_signal_.send(); }

void Worker::on_shutdown_requested(void* self) noexcept { static_cast<Worker*>(self)->begin_shutdown(); }

void Worker::on_server_trouble(void* self) noexcept {
  auto& worker = *static_cast<Worker*>(self);
  for (DownstreamConnection* connection = worker.connections_list_; connection != nullptr;) {
    DownstreamConnection* next = connection->next_;  // a connection may end while handling this
    connection->on_server_trouble();
    connection = next;
  }
}

void Worker::on_admin_change(void* self) noexcept { static_cast<Worker*>(self)->connections_.close_unwanted(); }

void Worker::on_status_change(void* self) noexcept { static_cast<Worker*>(self)->status_feed_.notify_change(); }

void Worker::on_status_heartbeat(void* self) noexcept { static_cast<Worker*>(self)->status_feed_.heartbeat(); }

void Worker::adopt_snapshot(std::shared_ptr<const Snapshot> snapshot, std::vector<int> keep,
                            std::vector<int> listener_fds) {
  {
    const std::lock_guard lock(pending_mutex_);
    if (!pending_closed_) {
      pending_.push_back({std::move(snapshot), std::move(keep), std::move(listener_fds)});
      snapshot_signal_.send();
      return;
    }
  }
  for (const int fd : listener_fds) {
    if (fd >= 0) ::close(fd);
  }
}

void Worker::on_snapshot_change(void* self) noexcept {
  auto& worker = *static_cast<Worker*>(self);
  std::vector<PendingSnapshot> changes;
  {
    const std::lock_guard lock(worker.pending_mutex_);
    changes.swap(worker.pending_);
  }
  for (auto& change : changes) worker.apply_snapshot(std::move(change));
}

void Worker::apply_snapshot(PendingSnapshot change) {
  if (draining_) {
    for (const int fd : change.listener_fds) {
      if (fd >= 0) ::close(fd);
    }
    return;
  }
  const auto& frontends = change.snapshot->config->frontends;
  // acceptors_[i] serves frontend i, before the change and after it.
  std::vector<std::unique_ptr<FrontendAcceptor>> next(frontends.size());
  for (std::size_t i = 0; i < frontends.size(); ++i) {
    const int fd = i < change.listener_fds.size() ? change.listener_fds[i] : -1;
    const int keep = i < change.keep.size() ? change.keep[i] : -1;
    if (fd >= 0) {
      next[i] = std::make_unique<FrontendAcceptor>(*this, i);
      next[i]->adopt(fd);
    } else if (keep >= 0 && static_cast<std::size_t>(keep) < acceptors_.size() && acceptors_[keep] != nullptr) {
      next[i] = std::move(acceptors_[keep]);
      next[i]->set_frontend_index(i);
    }
  }
  // Frontends the reload removed stop accepting; their open connections finish on the snapshot
  // they hold and end before their next request (Http1Connection::follow_reload).
  for (auto& acceptor : acceptors_) {
    if (acceptor == nullptr) continue;
    acceptor->retire();
    retired_acceptors_.push_back(std::move(acceptor));
  }
  acceptors_ = std::move(next);
  snapshot_ = std::move(change.snapshot);
  // Subscribers follow the reload below (Http1Connection::on_reload) and get the new answers.
  status_feed_.forget_answers();
  start_status_heartbeat();
  // Idle connections to servers the new configuration no longer has (or has at another address)
  // are of no use any more.
  std::vector<const state::ServerRuntime*> servers;
  for (const auto& backend : snapshot_->backends) {
    for (const auto& server : backend->servers) servers.push_back(&server->runtime);
  }
  connections_.close_idle_except(servers);
  for (DownstreamConnection* connection = connections_list_; connection != nullptr;) {
    DownstreamConnection* following = connection->next_;  // a connection may close here
    connection->on_reload();
    connection = following;
  }
}

void Worker::begin_shutdown() {
  if (draining_) return;
  draining_ = true;
  // New connections are refused from now on; the kernel resets any still in the backlog.
  for (auto& acceptor : acceptors_) {
    if (acceptor != nullptr) acceptor->retire();
  }
  // Subscribers go now, idle keep-alive clients after a short grace (a request may be on its
  // way), the others after their current response.
  for (DownstreamConnection* connection = connections_list_; connection != nullptr;) {
    DownstreamConnection* next = connection->next_;
    connection->drain();
    connection = next;
  }
  connections_.close_all();
  grace_timer_.start(snapshot_->config->timeouts.shutdown);
  maybe_finish_shutdown();
}

void Worker::on_grace_expired(void* self) noexcept {
  auto& worker = *static_cast<Worker*>(self);
  for (DownstreamConnection* connection = worker.connections_list_; connection != nullptr;) {
    DownstreamConnection* next = connection->next_;
    connection->abort_now();
    connection = next;
  }
}

void Worker::on_connection_closed(DownstreamConnection* connection) {
  if (connection->prev_ != nullptr) connection->prev_->next_ = connection->next_;
  if (connection->next_ != nullptr) connection->next_->prev_ = connection->prev_;
  if (connections_list_ == connection) connections_list_ = connection->next_;
  if (connection->client_key_) shared_.clients.release(*connection->client_key_);
  (*connection->snapshot_->frontends[connection->frontend_index_]->traffic)[id()].active.add(-1);
  delete connection;
  shared_.connections.fetch_sub(1, std::memory_order_relaxed);
  if (draining_) {
    maybe_finish_shutdown();
    return;
  }
  for (auto& acceptor : acceptors_) {
    if (acceptor != nullptr) acceptor->resume();
  }
}

void Worker::refuse_over_limit(int fd, const sockaddr* peer, const ClientTable::Admission& admission, bool tls) {
  if (tls) {
    // A TLS client expects a handshake, not an HTTP answer; a handshake would cost more than the
    // connection is worth here. It is closed at once.
    ::close(fd);
  } else {
    // Whatever the client already sent is read first: closing with unread bytes would reset the
    // connection and could destroy the 429 before the client reads it.
    char discard[4096];
    for (int i = 0; i < 16 && ::recv(fd, discard, sizeof discard, MSG_DONTWAIT) > 0; ++i) {
    }
    const std::string_view response = fallback::error_response(429);
    [[maybe_unused]] const auto sent = ::send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }
  if (!admission.warn) return;
  std::string host;
  std::uint16_t port = 0;
  net::SocketAddress::describe(peer, host, port);
  events_->write("client_limit",
                 fmt::format("client {} holds max_connections_per_client ({}) connections: answering 429 "
                             "({} refused since the last such line)",
                             host, shared_.clients.limit(), admission.refused_since_warning),
                 {{"client", host}, {"refused", static_cast<long>(admission.refused_since_warning)}});
}

void Worker::count_dropped_headers(std::size_t count) {
  dropped_headers_unreported_ += count;
  if (!dropped_headers_ever_reported_) report_dropped_headers();
}

void Worker::report_dropped_headers() {
  constexpr std::uint64_t kReportInterval = 60000;
  const std::uint64_t now = loop_.now_ms();
  if (dropped_headers_unreported_ == 0 ||
      (dropped_headers_ever_reported_ && now - dropped_headers_reported_ms_ < kReportInterval)) {
    return;
  }
  events_->write("headers_dropped",
                 fmt::format("dropped {} request header field{} with '_' in the name (underscores_in_headers = "
                             "\"drop\"; some servers read '_' as '-')",
                             dropped_headers_unreported_, dropped_headers_unreported_ == 1 ? "" : "s"),
                 {{"count", static_cast<long>(dropped_headers_unreported_)}});
  dropped_headers_unreported_ = 0;
  dropped_headers_reported_ms_ = now;
  dropped_headers_ever_reported_ = true;
}

void Worker::maybe_finish_shutdown() {
  if (!draining_ || finished_ || connections_list_ != nullptr) return;
  finish_shutdown();
}

void Worker::finish_shutdown() {
  if (finished_) return;
  finished_ = true;
  access_log_.flush();
  connections_.close_all();
  // With every handle closed the loop has nothing left and run() returns.
  for (auto& acceptor : acceptors_) {
    if (acceptor != nullptr) acceptor->retire();
  }
  {
    // The supervisor may still hand over a reload; from here on it closes the sockets itself.
    const std::lock_guard lock(pending_mutex_);
    pending_closed_ = true;
    for (auto& change : pending_) {
      for (const int fd : change.listener_fds) {
        if (fd >= 0) ::close(fd);
      }
    }
    pending_.clear();
    // A supervisor waiting for sockets gets none: this worker accepts no more.
    for (auto& request : listener_requests_) request->answer({});
    listener_requests_.clear();
  }
  shutdown_signal_.close(this);
  listeners_signal_.close(this);
  server_trouble_signal_.close(this);
  snapshot_signal_.close(this);
  admin_change_signal_.close(this);
  status_signal_.close(this);
  status_heartbeat_.close(this);
  flush_logs_.close(this);
  grace_timer_.close(this);
  trim_timer_.close(this);
}

void Worker::on_handle_closed() {}

void Worker::on_before_poll(void* self) noexcept {
  auto& worker = *static_cast<Worker*>(self);
  worker.access_log_.flush();
  worker.free_exchanges_.insert(worker.free_exchanges_.end(), worker.released_exchanges_.begin(),
                                worker.released_exchanges_.end());
  worker.released_exchanges_.clear();
}

}  // namespace haven::proxy
