#include "haven/proxy/client_session.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>

#include <cstdio>
#include <cstring>
#include <utility>

#include "haven/http/method.hpp"

#include "haven/fallback/error_responses.hpp"
#include "haven/fallback/maintenance.hpp"
#include "haven/proxy/body_queue.hpp"
#include "haven/net/socket_address.hpp"
#include "haven/health/checker.hpp"
#include "haven/net/buffer_pool.hpp"
#include "haven/proxy/exchange.hpp"
#include "haven/proxy/maintenance_policy.hpp"
#include "haven/net/out_queue.hpp"
#include "haven/proxy/worker.hpp"
#include "haven/upstream/balancer.hpp"

namespace haven::proxy {

namespace {

constexpr core::Duration kLingerTime{1000};  // after an error response: time for the client to read it
// Bytes read while lingering go nowhere. One per worker thread: workers never share mutable memory.
thread_local char discard_scratch[4096];

}  // namespace

struct ClientSession::UpstreamEvents final : net::StreamHandler {
  explicit UpstreamEvents(ClientSession& s) : session(s) {}
  char* on_alloc(std::size_t& capacity) override { return session.on_upstream_alloc(capacity); }
  void on_read(std::size_t length) override { session.on_upstream_read(length); }
  void on_read_end(int status) override { session.on_upstream_read_end(status); }
  void on_write_done(int status) override { session.on_upstream_write_done(status); }
  void on_connect_done(int status) override { session.on_upstream_connected(status); }
  ClientSession& session;
};

// Parser sinks plus the upstream handler, allocated with the session (the header only names them).
struct ClientSession::RequestEvents final : http::MessageSink {
  explicit RequestEvents(ClientSession& s) : session(s), upstream(s), response(s) {}
  http::MessageHead& on_message_begin() override { return session.on_request_begin(); }
  int on_head(http::MessageHead& /*head*/) override { return http::kSinkPause; }
  void on_body(const char* data, std::size_t length) override { session.on_request_body(data, length); }
  int on_message_complete() override { return session.on_request_complete(); }

  struct Response final : http::MessageSink {
    explicit Response(ClientSession& s) : session(s) {}
    http::MessageHead& on_message_begin() override;
    int on_head(http::MessageHead& head) override { return session.on_response_head(head); }
    void on_body(const char* data, std::size_t length) override { session.on_response_body(data, length); }
    int on_message_complete() override { return session.on_response_complete(); }
    ClientSession& session;
  };

  ClientSession& session;
  UpstreamEvents upstream;
  Response response;
};

http::MessageHead& ClientSession::RequestEvents::Response::on_message_begin() { return session.exchange_->response; }

ClientSession::ClientSession(Worker& worker, std::shared_ptr<const Snapshot> snapshot, std::size_t frontend_index)
    : worker_(worker),
      snapshot_(std::move(snapshot)),
      frontend_(&snapshot_->config->frontends[frontend_index]),
      frontend_index_(frontend_index),
      client_(worker.loop(), *this),
      timer_(worker.loop(), &ClientSession::on_client_timer, this),
      request_events_(std::make_unique<RequestEvents>(*this)),
      request_parser_(http::MessageKind::Request, *request_events_) {
  apply_frontend_limits();
}

void ClientSession::apply_frontend_limits() {
  http::ParseLimits limits;
  limits.max_head_bytes = frontend_->max_header_bytes;
  limits.max_headers = frontend_->max_headers;
  limits.underscores = frontend_->underscores_in_headers == config::HeaderUnderscores::Reject ? http::UnderscoreHeaders::Reject
                       : frontend_->underscores_in_headers == config::HeaderUnderscores::Allow
                           ? http::UnderscoreHeaders::Allow
                           : http::UnderscoreHeaders::Drop;
  request_parser_.set_limits(limits);
}

// Between requests a keep-alive connection moves to the configuration in force, so a reload's
// routes, limits and timeouts apply to its next request (the one before finished on the
// configuration it started with). False when its frontend is gone or now listens elsewhere.
bool ClientSession::follow_reload() {
  const std::shared_ptr<const Snapshot>& current = worker_.snapshot();
  if (current == snapshot_) return true;
  const auto& frontends = current->config->frontends;
  // The same frontend, or, on an explicit port, whatever frontend took over its listener (a
  // rename): the supervisor's rule for keeping listeners.
  std::optional<std::size_t> next;
  for (std::size_t i = 0; i < frontends.size() && !next; ++i) {
    if (frontends[i].name == frontend_->name && frontends[i].bind.same_endpoint(frontend_->bind)) next = i;
  }
  for (std::size_t i = 0; i < frontends.size() && !next && frontend_->bind.port != 0; ++i) {
    if (frontends[i].bind.same_endpoint(frontend_->bind)) next = i;
  }
  if (!next) return false;
  // The open connection is counted on the frontend it now belongs to (a rename changes entries).
  const auto& before = snapshot_->frontends[frontend_index_];
  const auto& after = current->frontends[*next];
  if (before != after) {
    (*before->traffic)[worker_.id()].active.add(-1);
    (*after->traffic)[worker_.id()].active.add(1);
  }
  snapshot_ = current;
  frontend_ = &frontends[*next];
  frontend_index_ = *next;
  apply_frontend_limits();
  return true;
}

ClientSession::~ClientSession() {
  worker_.buffers().release(in_);
  if (exchange_ != nullptr) worker_.release_exchange(exchange_);
}

void ClientSession::release_exchange() {
  worker_.release_exchange(exchange_);
  exchange_ = nullptr;
}

void ClientSession::start(int fd, const sockaddr* peer) {
  if (client_.adopt(fd) != 0) {
    ::close(fd);
    close_now();
    return;
  }
  client_.set_nodelay();
  net::SocketAddress::describe(peer, client_ip_, client_port_);
  arm_client_timer(frontend_->timeouts.http_request);
  if (client_.read_start() != 0) close_now();
}

void ClientSession::close_if_idle() {
  if (state_ == State::ReadingHead && !request_started_) close_now();
}

void ClientSession::on_reload() {
  // An idle connection of a frontend the reload removed is closed now (a client takes that as the
  // usual end of an idle keep-alive connection); a busy one finishes its request first.
  if (state_ == State::ReadingHead && !request_started_ && !follow_reload()) close_now();
}

void ClientSession::abort_now() {
  if (exchange_) {
    abort_exchange(state::Outcome::Shutdown);
  } else {
    close_now(true);
  }
}

void ClientSession::arm_client_timer(core::Duration timeout) { timer_.set(timeout); }

// ---------------------------------------------------------------------------------------------
// Client side

char* ClientSession::on_alloc(std::size_t& capacity) {
  if (state_ == State::Lingering || state_ == State::Closed) {
    capacity = sizeof discard_scratch;
    return discard_scratch;
  }
  if (in_ == nullptr) in_ = worker_.buffers().acquire();
  if (in_ == nullptr) {
    capacity = 0;  // libuv reports UV_ENOBUFS and the connection ends
    return discard_scratch;
  }
  // Reading stops once a body fills kBodyCapacity (on_read); a read libuv already started still
  // gets whatever room the buffer has, never none (that would end the connection).
  capacity = in_->room(state_ == State::ReadingHead);
  if (capacity == 0) capacity = in_->room(true);
  return in_->data + in_->end;
}

// Reading stays on for the whole connection: stopping and restarting it costs epoll_ctl calls on
// every request. Only a full buffer (backpressure) stops it, until room is made.
void ClientSession::on_read(std::size_t length) {
  if (state_ == State::Lingering || state_ == State::Closed) return;
  in_->end += length;
  if (state_ == State::Tunnel) {
    if (in_->room(false) == 0) client_.read_stop();
    // Traffic either way keeps the tunnel alive.
    arm_client_timer(frontend_->timeouts.tunnel);
    if (exchange_->upstream != nullptr) exchange_->upstream->timer().set(frontend_->timeouts.tunnel);
    pump_tunnel();
    return;
  }
  if (state_ == State::ReadingHead && !request_started_) {
    // The head timer runs from the first byte of a request (slowloris), not from the last one.
    request_started_ = true;
    request_started_ms_ = worker_.loop().now_ms();
    arm_client_timer(frontend_->timeouts.http_request);
  } else if (state_ == State::Forwarding) {
    arm_client_timer(frontend_->timeouts.client);
  }
  if (frontend_->min_body_rate != 0 && state_ != State::ReadingHead && exchange_ != nullptr &&
      !exchange_->request_complete && !body_rate_holds(length)) {
    return;
  }
  process_client_input();
  // Judged after the bytes were handled: a read that finished a head may have filled the buffer
  // past what a body may hold, and the body waits until what is there has gone up.
  if ((state_ == State::Dispatching || state_ == State::Forwarding || state_ == State::ReadingHead) &&
      in_ != nullptr && in_->room(state_ == State::ReadingHead) == 0) {
    client_.read_stop();
  }
}

void ClientSession::on_read_end(int /*status*/) {
  client_eof_ = true;
  switch (state_) {
    case State::ReadingHead:
      // A client that leaves between requests is the normal end of keep-alive.
      close_now();
      return;
    case State::Lingering:
      close_now();
      return;
    case State::Tunnel:
      if (exchange_ && exchange_->upstream != nullptr) exchange_->upstream->stream().shutdown();
      if (exchange_ && exchange_->upstream_eof) close_now();
      return;
    case State::Dispatching:
    case State::Forwarding:
      // The rest of the body can never come. A client that only half-closed is still reading, so
      // it is told so (400) unless its response has begun; the server's connection, holding a
      // cut request, is not reused.
      if (exchange_ && !exchange_->request_complete) {
        respond_error(400, state::Outcome::ClientAbort);
      }
      // A client that half-closed after a complete request still gets its response.
      return;
    case State::Closed:
      return;
  }
}

void ClientSession::on_write_done(int status) {
  if (state_ == State::Closed) return;
  if (status != 0) {
    abort_exchange(state::Outcome::ClientAbort);
    return;
  }
  if (state_ == State::Lingering) {
    linger_close();
    return;
  }
  after_client_write();
}

void ClientSession::process_client_input() {
  if (state_ == State::ReadingHead) {
    const auto result = request_parser_.execute(in_->data, in_->data + parsed_, in_->end - parsed_);
    parsed_ += result.consumed;
    switch (result.status) {
      case http::ExecuteStatus::Paused:
        on_request_head_parsed();
        return;
      case http::ExecuteStatus::Done:
        if (in_->room(true) == 0) {
          // The head does not fit in a buffer: it is over any limit a frontend may set.
          respond_error(431, state::Outcome::HeadTooLarge);
        }
        return;
      case http::ExecuteStatus::Upgrade:
      case http::ExecuteStatus::Error:
        break;
    }
    const auto failure = request_parser_.failure();
    respond_error(failure == http::ParseFailure::TooLarge        ? 431
                  : failure == http::ParseFailure::NotImplemented ? 501
                                                                  : 400,
                  state::Outcome::BadRequest);
    return;
  }
  // While dispatching, or while a write upstream is pending, bytes wait in the buffer.
  if (state_ == State::Forwarding && exchange_->upstream != nullptr && !exchange_->upstream->stream().write_pending()) {
    pump_request_body();
    flush_to_upstream();
  }
}

http::MessageHead& ClientSession::on_request_begin() {
  // A replay re-parses into the exchange it already has.
  if (exchange_ == nullptr) exchange_ = worker_.acquire_exchange(request_events_->response);
  return exchange_->request;
}

// A body trickling in slower than min_body_rate (averaged over a window) ends with 408: the
// connection slot and the server connection it holds are worth more than the upload. The window
// starts over whenever haven itself stopped reading (a server slow to take the body).
bool ClientSession::body_rate_holds(std::size_t length) {
  constexpr std::uint64_t kWindowMs = 10000;
  const std::uint64_t now = worker_.loop().now_ms();
  body_window_bytes_ += length;
  const std::uint64_t elapsed = now - body_window_start_ms_;
  if (elapsed < kWindowMs) return true;
  if (body_window_bytes_ * 1000 >= frontend_->min_body_rate * elapsed) {
    body_window_start_ms_ = now;
    body_window_bytes_ = 0;
    return true;
  }
  respond_error(408, state::Outcome::BodyTooSlow);
  return false;
}

bool ClientSession::awaiting_continue() const {
  return exchange_ != nullptr && exchange_->request.expect_continue && exchange_->bytes_in == 0 &&
         !exchange_->request_complete;
}

void ClientSession::restart_body_rate_window() {
  body_window_start_ms_ = worker_.loop().now_ms();
  body_window_bytes_ = 0;
}

void ClientSession::on_request_head_parsed() {
  timer_.clear();
  restart_body_rate_window();
  if (!exchange_->routed) {
    // A request that began before a reload reached this worker still gets the routes in force.
    follow_reload();
    exchange_->routed = true;
    exchange_->started_ms = request_started_ms_;
    exchange_->head_ms = worker_.loop().now_ms();
    const auto target = exchange_->request.target.view(in_->data);
    exchange_->backend = snapshot_->backends[snapshot_->routes[frontend_index_].backend_for(target)].get();
    if (exchange_->request.dropped_headers != 0) worker_.count_dropped_headers(exchange_->request.dropped_headers);
  }
  state_ = State::Dispatching;
  // Body bytes that came with the head are checked before any server sees the request: a bad
  // chunk there is a 400, not a half-forwarded request.
  pump_request_body();
  if (state_ != State::Dispatching) return;
  // The client has closed its side, and this request's body is not all here: it never will be,
  // so no server is bothered with it.
  if (client_eof_ && !exchange_->request_complete) {
    respond_error(400, state::Outcome::ClientAbort);
    return;
  }
  // A browser navigation gets the maintenance page as soon as a backend the page depends on is
  // gone (the page is useless without its API); the health URLs it polls are always answered by
  // their own backend.
  Exchange& ex = *exchange_;
  if (const auto* accept = ex.request.find(http::HeaderKind::Accept)) {
    ex.wants_html = fallback::accepts_html(accept->value.view(in_->data));
  }
  NavigationFacts facts;
  facts.method = ex.request.method;
  facts.wants_html = ex.wants_html;
  facts.poll_path =
      ex.wants_html && snapshot_->maintenance.is_poll_path(routing::origin_path(ex.request.target.view(in_->data)));
  if (navigation_needs_maintenance(facts, frontend_->maintenance_requires_indexes,
                                   [this](std::size_t index) { return snapshot_->backends[index]->usable(); })) {
    respond_local(snapshot_->maintenance.html(ex.request.method == http::Method::Head), 503, state::Outcome::Maintenance);
    return;
  }
  dispatch();
}

bool ClientSession::other_server_left() const {
  const Exchange& ex = *exchange_;
  for (const auto& server : ex.backend->servers) {
    if (server.get() != ex.server && server->serving() && !ex.tried.contains(server->index)) {
      return true;
    }
  }
  return false;
}

bool ClientSession::untried_server_left() const {
  const Exchange& ex = *exchange_;
  for (const auto& server : ex.backend->servers) {
    if (server->serving() && !ex.tried.contains(server->index)) return true;
  }
  return false;
}


void ClientSession::dispatch() {
  Exchange& ex = *exchange_;
  const auto& servers = ex.backend->servers;
  // On the stack: config caps a backend at kMaxServersPerBackend servers.
  std::array<upstream::Candidate, config::kMaxServersPerBackend> candidates;
  const std::size_t count = std::min(servers.size(), candidates.size());
  const std::uint64_t now = worker_.loop().now_ms();
  for (std::size_t i = 0; i < count; ++i) {
    const auto& server = *servers[i];
    candidates[i] = {server.serving(), server.config.backup,
                     server.balancer_weight(now, static_cast<std::uint64_t>(ex.backend->config.slow_start.count())),
                     server.runtime.active.load(std::memory_order_relaxed)};
  }
  const auto chosen =
      upstream::choose_server(ex.backend->config.balance, ex.backend->config.all_backups,
                              std::span(candidates.data(), count), ex.tried, ex.backend->runtime->balancer[worker_.id()]);
  if (!chosen) {
    respond_maintenance(*ex.backend);
    return;
  }
  ex.server = servers[*chosen].get();
  ex.server->runtime.active.fetch_add(1, std::memory_order_relaxed);
  ex.counted_active = true;
  ex.response_byte_seen = false;
  ex.request_written = false;
  ex.upstream_eof = false;
  ex.connecting = false;

  upstream::Connection* connection = ex.fresh_connection_only ? nullptr : worker_.connections().take(*ex.server);
  const bool pooled = connection != nullptr;
  if (!pooled) connection = worker_.connections().create(*ex.server);
  ex.upstream = connection;
  connection->stream().set_handler(request_events_->upstream);
  connection->timer().set_callback(&ClientSession::on_upstream_timer, this);
  if (pooled) {
    ex.connected_ms = worker_.loop().now_ms();
    on_upstream_ready();
    return;
  }
  ex.connecting = true;
  const int rc = connection->stream().connect(ex.server->address.get());
  if (rc != 0) {
    ex.connecting = false;
    upstream_failed(UpstreamFailure::ConnectFailed, rc);
    return;
  }
  connection->timer().set(ex.backend->config.timeouts.connect);
}

void ClientSession::on_upstream_connected(int status) {
  Exchange& ex = *exchange_;
  ex.connecting = false;
  ex.upstream->timer().clear();
  if (status != 0) {
    upstream_failed(UpstreamFailure::ConnectFailed, status);
    return;
  }
  ex.upstream->stream().set_nodelay();
  ex.connected_ms = worker_.loop().now_ms();
  on_upstream_ready();
}

void ClientSession::on_upstream_ready() {
  Exchange& ex = *exchange_;
  state_ = State::Forwarding;
  http::RequestRewrite rewrite;
  rewrite.client_ip = client_ip_;
  rewrite.fallback_host = ex.server->config.address.text;
  ex.to_upstream.head().clear();
  write_request_head(ex.to_upstream.head(), ex.request, in_->data, rewrite);

  ex.response_parser.reset();
  http::ParseLimits limits;
  limits.max_head_bytes = ex.backend->config.max_response_header_bytes;
  limits.max_headers = ex.backend->config.max_response_headers;
  ex.response_parser.set_limits(limits);
  ex.response_parser.set_skip_body(ex.request.method == http::Method::Head);
  if (ex.upstream->stream().read_start() != 0) {
    upstream_failed(UpstreamFailure::ClosedEarly, 0);
    return;
  }
  ex.upstream->timer().set(response_wait());
  pump_request_body();
  // Body bytes that arrived while connecting may have been refused (400): the exchange is over.
  if (state_ != State::Forwarding || exchange_ == nullptr) return;
  flush_to_upstream();
}

void ClientSession::pump_request_body() {
  Exchange& ex = *exchange_;
  if (ex.request_complete) return;
  // Even with no new byte: a request without body completes only once the paused parser runs
  // past its head.
  request_parser_.resume();
  const auto result = request_parser_.execute(in_->data, in_->data + parsed_, in_->end - parsed_);
  parsed_ += result.consumed;
  if (result.status == http::ExecuteStatus::Error) {
    // The head was valid but the body framing is not (a bad chunk): nothing more goes up.
    if (ex.request_written) {
      abort_exchange(state::Outcome::BadRequestBody);
    } else {
      respond_error(400, state::Outcome::BadRequestBody);
    }
  }
}

void ClientSession::on_request_body(const char* data, std::size_t length) {
  Exchange& ex = *exchange_;
  ex.bytes_in += length;
  // Chunked requests are re-chunked: chunk extensions never reach the server.
  queue_body(ex.to_upstream, data, length, ex.request.framing == http::BodyFraming::Chunked);
}

int ClientSession::on_request_complete() {
  if (!exchange_) {
    // A request without body completes inside the head's execute() call, before the exchange
    // exists; the head pause comes first, so this runs on resume with the exchange set.
    return http::kSinkPause;
  }
  Exchange& ex = *exchange_;
  ex.request_complete = true;
  if (ex.request.framing == http::BodyFraming::Chunked) ex.to_upstream.add_external("0\r\n\r\n", 5);
  // Stop after this message: a pipelined request waits until this response is done.
  return ex.request.upgrade ? 0 : http::kSinkPause;
}

void ClientSession::flush_to_upstream() {
  Exchange& ex = *exchange_;
  if (state_ != State::Forwarding || ex.upstream == nullptr) return;
  if (ex.to_upstream.empty()) {
    after_upstream_write();
    return;
  }
  // From here the server may have seen part of the request (a replay must then be idempotent).
  ex.request_written = true;
  switch (ex.upstream->stream().write(ex.to_upstream.slices())) {
    case net::WriteOutcome::Done:
      after_upstream_write();
      return;
    case net::WriteOutcome::Pending:
      // Client bytes keep arriving into the buffer (it does not move) until it is full.
      return;
    case net::WriteOutcome::Failed:
      upstream_failed(UpstreamFailure::WriteFailed, ex.upstream->stream().last_error());
      return;
  }
}

void ClientSession::on_upstream_write_done(int status) {
  if (!exchange_ || state_ == State::Closed) return;
  if (status != 0) {
    upstream_failed(UpstreamFailure::WriteFailed, status);
    return;
  }
  if (state_ == State::Tunnel) {
    Exchange& ex = *exchange_;
    ex.to_upstream.clear();
    // The write that finished may be the upgrade request itself; only a tunnel write empties the
    // buffer it was sent from.
    if (ex.tunnel_write_pending) {
      ex.tunnel_write_pending = false;
      in_->end = parsed_ = 0;
    }
    if (!client_eof_) client_.read_start();
    pump_tunnel();
    return;
  }
  after_upstream_write();
}

void ClientSession::after_upstream_write() {
  Exchange& ex = *exchange_;
  const bool wrote = !ex.to_upstream.empty();
  ex.to_upstream.clear();
  // The server is taking the request: that is progress, not a server gone silent.
  if (wrote && !ex.response_byte_seen && ex.upstream != nullptr) ex.upstream->timer().set(response_wait());
  // Pipelined bytes behind a complete request wait in the buffer.
  if (ex.request_complete || ex.response_complete) return;
  if (parsed_ < in_->end) {
    // Body bytes arrived while the write was in flight: they go up now.
    pump_request_body();
    if (state_ == State::Forwarding) flush_to_upstream();
    return;
  }
  make_room_in_client_buffer();
  arm_client_timer(frontend_->timeouts.client);
  if (!client_eof_ && in_->room(false) > 0) {
    if (!client_.reading()) restart_body_rate_window();  // haven, not the client, was the holdup
    client_.read_start();
  }
}

// Body bytes already sent are dropped once the buffer is full. From then on the request can no
// longer be replayed to another server.
void ClientSession::make_room_in_client_buffer() {
  Exchange& ex = *exchange_;
  if (in_->room(false) > 0 || parsed_ == 0) return;
  if (ex.target_copy.empty()) ex.target_copy.assign(ex.request.target.view(in_->data));
  std::memmove(in_->data, in_->data + parsed_, in_->end - parsed_);
  in_->end -= parsed_;
  parsed_ = 0;
  ex.replayable = false;
}

// ---------------------------------------------------------------------------------------------
// Upstream side

char* ClientSession::on_upstream_alloc(std::size_t& capacity) {
  Exchange& ex = *exchange_;
  if (ex.upstream_in == nullptr) ex.upstream_in = worker_.buffers().acquire();
  if (ex.upstream_in == nullptr) {
    capacity = 0;
    return discard_scratch;
  }
  capacity = ex.upstream_in->room(state_ != State::Tunnel && !ex.response_parser.head_complete());
  if (capacity == 0) capacity = ex.upstream_in->room(true);
  return ex.upstream_in->data + ex.upstream_in->end;
}

void ClientSession::on_upstream_read(std::size_t length) {
  Exchange& ex = *exchange_;
  ex.upstream_in->end += length;
  if (!ex.response_byte_seen) {
    ex.response_byte_seen = true;
    ex.first_response_ms = worker_.loop().now_ms();
  }
  if (state_ == State::Tunnel) {
    ex.upstream->timer().set(frontend_->timeouts.tunnel);
    arm_client_timer(frontend_->timeouts.tunnel);
    pump_tunnel();
    return;
  }
  ex.short_leash = false;
  ex.upstream->timer().set(ex.backend->config.timeouts.server);
  parse_response();
}

void ClientSession::parse_response() {
  Exchange& ex = *exchange_;
  net::Buffer& buffer = *ex.upstream_in;
  const auto result =
      ex.response_parser.execute(buffer.data, buffer.data + ex.upstream_parsed, buffer.end - ex.upstream_parsed);
  ex.upstream_parsed += result.consumed;
  switch (result.status) {
    case http::ExecuteStatus::Done:
      if (!ex.response_parser.head_complete() && buffer.room(true) == 0) {
        upstream_failed(UpstreamFailure::BadResponse, 0);  // a response head over any limit
        return;
      }
      break;
    case http::ExecuteStatus::Paused:
      // The response ended; anything after it is a server talking out of turn.
      if (ex.upstream_parsed != buffer.end) ex.upstream_reusable = false;
      break;
    case http::ExecuteStatus::Upgrade:
      if (!ex.upgrade_response) {
        upstream_failed(UpstreamFailure::BadResponse, 0);
        return;
      }
      break;
    case http::ExecuteStatus::Error:
      upstream_failed(UpstreamFailure::BadResponse, 0);
      return;
  }
  flush_to_client();
}

int ClientSession::on_response_head(http::MessageHead& head) {
  Exchange& ex = *exchange_;
  net::Buffer& buffer = *ex.upstream_in;
  std::string& arena = ex.to_client.arena();
  const std::size_t start = arena.size();
  const bool client_http10 = ex.request.is_http10();
  if (head.status == 101) {
    if (!ex.request.upgrade) return -1;  // switching protocols nobody asked for
    ex.upgrade_response = true;
    ex.status = 101;
    http::write_response_head(arena, head, buffer.data, ex.plan, client_http10);
  } else if (head.status / 100 == 1) {
    // The client sends its body now: the time it waited for this was the server's.
    if (head.status == 100) restart_body_rate_window();
    // Interim responses (100 Continue, 103 Early Hints) go to HTTP/1.1 clients only.
    if (client_http10) return 0;
    http::write_response_head(arena, head, buffer.data, ex.plan, client_http10);
  } else {
    // A real answer: the server is reachable, whatever traffic said before.
    state::ServerRuntime& runtime = ex.server->runtime;
    if (runtime.passive_failures.load(std::memory_order_relaxed) != 0) {
      runtime.passive_failures.store(0, std::memory_order_relaxed);
    }
    if (runtime.unreachable.load(std::memory_order_relaxed)) runtime.unreachable.store(false, std::memory_order_relaxed);
    const bool client_keep_alive = ex.request.keep_alive && !ex.request.upgrade && !worker_.draining();
    ex.plan = http::plan_response(head, client_http10, client_keep_alive);
    if (!ex.plan.relayable) return -1;  // codings an HTTP/1.0 client cannot be sent
    // A server whose final answer comes before it has the whole request may never read the rest
    // (an interim 100 Continue is the opposite: it asks for it).
    ex.response_before_request_end =
        !ex.request_complete || !ex.to_upstream.empty() || ex.upstream->stream().write_pending();
    ex.status = head.status;
    ex.upstream_reusable = head.keep_alive;
    http::write_response_head(arena, head, buffer.data, ex.plan, client_http10);
  }
  ex.to_client.add_arena_since(start);
  return 0;
}

void ClientSession::on_response_body(const char* data, std::size_t length) {
  Exchange& ex = *exchange_;
  queue_body(ex.to_client, data, length, ex.plan.framing == http::ClientFraming::Chunked);
}

int ClientSession::on_response_complete() {
  Exchange& ex = *exchange_;
  if (ex.response.status / 100 == 1 && ex.response.status != 101) return 0;  // the final response follows
  if (ex.upgrade_response) return 0;
  ex.response_complete = true;
  if (ex.plan.framing == http::ClientFraming::Chunked) ex.to_client.add_external("0\r\n\r\n", 5);
  if (ex.response.framing == http::BodyFraming::UntilClose) ex.upstream_reusable = false;
  return http::kSinkPause;
}

void ClientSession::on_upstream_read_end(int status) {
  Exchange& ex = *exchange_;
  ex.upstream_eof = true;
  if (state_ == State::Tunnel) {
    client_.shutdown();
    if (client_eof_) close_now();
    return;
  }
  ex.upstream_reusable = false;
  if (ex.response_parser.in_message() && ex.response_parser.head_complete() &&
      ex.response.framing == http::BodyFraming::UntilClose && status == net::TcpStream::kEof) {
    // The body of a response without length ends here.
    ex.response_parser.finish();
    flush_to_client();
    return;
  }
  if (ex.response_complete) return;
  upstream_failed(UpstreamFailure::ClosedEarly, status);
}

void ClientSession::flush_to_client() {
  Exchange& ex = *exchange_;
  if (ex.to_client.empty()) {
    after_client_write();
    return;
  }
  ex.response_started = true;
  ex.bytes_out += ex.to_client.bytes();
  switch (client_.write(ex.to_client.slices())) {
    case net::WriteOutcome::Done:
      after_client_write();
      return;
    case net::WriteOutcome::Pending:
      // Backpressure: the server waits while the client is slow.
      if (ex.upstream != nullptr) ex.upstream->stream().read_stop();
      arm_client_timer(frontend_->timeouts.client);
      return;
    case net::WriteOutcome::Failed:
      abort_exchange(state::Outcome::ClientAbort);
      return;
  }
}

void ClientSession::after_client_write() {
  Exchange& ex = *exchange_;
  ex.to_client.clear();
  if (state_ == State::Tunnel) {
    ex.upstream_in->end = ex.upstream_parsed = 0;
    if (!ex.upstream_eof) ex.upstream->stream().read_start();
    return;
  }
  if (ex.upgrade_response) {
    start_tunnel();
    return;
  }
  if (ex.response_complete) {
    finish_exchange();
    return;
  }
  // Everything parsed went out: the buffer starts over, unless it holds an unfinished head.
  net::Buffer* buffer = ex.upstream_in;
  if (buffer != nullptr && ex.response_parser.head_complete() && ex.upstream_parsed == buffer->end) {
    buffer->end = ex.upstream_parsed = 0;
  }
  if (ex.upstream != nullptr && !ex.upstream_eof) {
    if (ex.response_started) timer_.clear();
    ex.upstream->stream().read_start();
  }
}

// ---------------------------------------------------------------------------------------------
// Failures and retries

void ClientSession::upstream_failed(UpstreamFailure failure, int uv_status) {
  Exchange& ex = *exchange_;
  if (net::TcpStream::is_local_resource_error(uv_status) && !ex.response_started) {
    // Out of descriptors here says nothing about the server: no passive failure, no retry storm.
    respond_error(503, state::Outcome::LocalResources);
    return;
  }
  if (ex.response_started) {
    // Part of a response reached the client: it must see a broken connection, never a response
    // that looks complete.
    abort_exchange(failure == UpstreamFailure::Timeout ? state::Outcome::ServerTimeout : state::Outcome::ServerAbort);
    return;
  }
  switch (failure) {
    case UpstreamFailure::ConnectFailed:
      if (uv_status == net::TcpStream::kRefused) {
        note_traffic_failure("connection refused", ex.backend->config.refused_marks_down);
      } else {
        note_traffic_failure("connection failed");
      }
      break;
    case UpstreamFailure::ConnectTimeout:
      note_traffic_failure("connect timeout");
      break;
    case UpstreamFailure::Timeout:
      note_traffic_failure("response timeout");
      break;
    case UpstreamFailure::ClosedEarly:
      // A pooled connection the server had closed says nothing about the server's health.
      if (ex.upstream == nullptr || !ex.upstream->reused()) note_traffic_failure("connection closed before a response");
      break;
    default:
      break;
  }
  if (try_retry(failure)) return;
  switch (failure) {
    case UpstreamFailure::Timeout:
      respond_error(504, state::Outcome::ServerTimeout);
      return;
    case UpstreamFailure::ConnectFailed:
    case UpstreamFailure::ConnectTimeout:
      // With no server left to try, the client gets the maintenance answer, which says when to
      // come back; a 502 would say something is broken that retrying elsewhere could avoid.
      ex.tried.add(ex.server->index);
      if (!untried_server_left()) {
        mark_tried_servers_unreachable();
        respond_maintenance(*ex.backend);
      } else {
        respond_error(502, state::Outcome::ConnectFailed);
      }
      return;
    case UpstreamFailure::ServerDown:
      return;  // not retried: it keeps waiting on its server
    case UpstreamFailure::BadResponse:
      respond_error(502, state::Outcome::BadResponse);
      return;
    case UpstreamFailure::ClosedEarly:
    case UpstreamFailure::WriteFailed:
      respond_error(502, state::Outcome::ServerClosed);
      return;
  }
}

bool ClientSession::try_retry(UpstreamFailure failure) {
  Exchange& ex = *exchange_;
  RetryFacts facts;
  facts.failure = failure;
  facts.method = ex.request.method;
  facts.request_written = ex.request_written;
  facts.response_byte_seen = ex.response_byte_seen;
  facts.replayable = ex.replayable;
  facts.upgrade = ex.upgrade_response;
  facts.pooled_connection = ex.upstream != nullptr && ex.upstream->reused();
  facts.fresh_connection_tried = ex.fresh_connection_only;
  facts.retries_done = ex.retries;
  facts.retries_allowed = ex.backend->config.retries;
  const RetryDecision decision = decide_retry(facts);
  if (decision == RetryDecision::No) return false;
  auto& server_counters = (*ex.server->runtime.traffic)[worker_.id()];
  auto& backend_counters = (*ex.backend->runtime->traffic)[worker_.id()];
  server_counters.retries.add();
  backend_counters.retries.add();
  if (decision == RetryDecision::FreshConnection) {
    ex.fresh_connection_only = true;
  } else {
    ++ex.retries;
    ex.tried.add(ex.server->index);
    server_counters.redispatches.add();
    backend_counters.redispatches.add();
  }
  release_upstream(false);
  worker_.buffers().release(ex.upstream_in);
  ex.upstream_in = nullptr;
  ex.upstream_parsed = 0;
  ex.to_upstream.clear();
  ex.to_client.clear();
  ex.request_complete = false;
  ex.bytes_in = 0;
  // Parse the request again from its first byte: the head and body still sit in the buffer.
  request_parser_.reset();
  parsed_ = 0;
  const auto result = request_parser_.execute(in_->data, in_->data, in_->end);
  parsed_ = result.consumed;
  if (result.status != http::ExecuteStatus::Paused) return false;
  state_ = State::Dispatching;
  pump_request_body();
  if (state_ == State::Dispatching) dispatch();
  return true;
}

void ClientSession::release_upstream(bool reusable) {
  Exchange& ex = *exchange_;
  if (ex.counted_active) {
    ex.server->runtime.active.fetch_sub(1, std::memory_order_relaxed);
    ex.counted_active = false;
  }
  upstream::Connection* connection = ex.upstream;
  ex.upstream = nullptr;
  if (connection == nullptr) return;
  connection->timer().clear();
  // A server being drained (or in maintenance) finishes what it has; its connections are not kept.
  if (reusable && ex.server->runtime.admin_state() == state::AdminState::Ready && !ex.server->runtime.retired()) {
    connection->mark_reused();
    worker_.connections().put(connection, ex.backend->config.timeouts.keep_alive);
  } else {
    connection->close();
  }
}

void ClientSession::on_upstream_timer(void* self) noexcept {
  auto& session = *static_cast<ClientSession*>(self);
  if (!session.exchange_) return;
  Exchange& ex = *session.exchange_;
  if (session.state_ == State::Tunnel) {
    session.abort_exchange(state::Outcome::TunnelTimeout);
    return;
  }
  if (ex.connecting) {
    ex.connecting = false;
    session.upstream_failed(UpstreamFailure::ConnectTimeout, net::TcpStream::kTimedOut);
    return;
  }
  if (ex.short_leash) {
    // Its server's last check failed and it has been silent as long as a check may wait: the
    // request goes elsewhere; if nowhere else will take it, it keeps waiting for the real timeout.
    ex.short_leash = false;
    if (!ex.response_byte_seen && ex.request_complete && session.other_server_left() &&
        session.try_retry(UpstreamFailure::ServerDown)) {
      return;
    }
    if (ex.upstream != nullptr) {
      const auto& config = ex.backend->config;
      ex.upstream->timer().set(config.timeouts.server - std::min(config.timeouts.server, config.check->timeout));
    }
    return;
  }
  // A slow client holding up the response, or a request body the client has stopped sending
  // (everything it sent has been written up), is the client timeout's business, not the
  // server's: the server is waiting too, and blaming it would let any client take it DOWN.
  const bool waiting_on_client = session.client_.write_pending() ||
                                 (!ex.request_complete && !ex.response_byte_seen && !session.awaiting_continue() &&
                                  ex.upstream != nullptr && !ex.upstream->stream().write_pending());
  if (waiting_on_client && ex.upstream != nullptr) {
    ex.upstream->timer().set(ex.backend->config.timeouts.server);
    return;
  }
  session.upstream_failed(UpstreamFailure::Timeout, net::TcpStream::kTimedOut);
}

void ClientSession::on_client_timer(void* self) noexcept {
  auto& session = *static_cast<ClientSession*>(self);
  switch (session.state_) {
    case State::ReadingHead:
      if (session.request_started_) {
        session.respond_error(408, state::Outcome::HeadTimeout);
      } else {
        session.close_now();  // idle keep-alive connection
      }
      return;
    case State::Lingering:
      session.close_now();
      return;
    case State::Tunnel:
      session.abort_exchange(state::Outcome::TunnelTimeout);
      return;
    default: {
      // Only waiting on the client counts: its request body, or its reading of the response.
      // Waiting on the server is the server timeout's business.
      if (session.exchange_ == nullptr) return;
      const Exchange& ex = *session.exchange_;
      // A body stuck behind a server that does not read it, or held back until the server says
      // 100 Continue, is the server timeout's business.
      if (ex.upstream != nullptr && ex.upstream->stream().write_pending()) return;
      if (session.awaiting_continue()) return;
      if (!ex.request_complete) {
        if (ex.response_started) {
          session.abort_exchange(state::Outcome::ClientTimeout);
        } else {
          session.respond_error(408, state::Outcome::ClientTimeout);
        }
      } else if (session.client_.write_pending()) {
        session.abort_exchange(state::Outcome::ClientTimeout);
      }
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Endings

void ClientSession::finish_exchange() {
  Exchange& ex = *exchange_;
  record_exchange();
  // A connection with part of the request still queued (the server answered early) is closed, not
  // pooled: those bytes point into buffers this session is about to reuse. Nor is one whose
  // response ended before the request was all written: the server may never have read the rest,
  // which it would then take for the next request.
  const bool upstream_ok = ex.upstream_reusable && ex.request_complete && !ex.upstream_eof &&
                           !ex.response_before_request_end && ex.upstream != nullptr &&
                           !ex.upstream->stream().write_pending();
  release_upstream(upstream_ok);
  // Requests the client pipelined before it half-closed are still answered, one by one.
  const bool more_input = in_ != nullptr && parsed_ < in_->end;
  const bool keep_client = ex.plan.keep_client_alive && ex.request_complete && !worker_.draining() &&
                           (!client_eof_ || more_input);
  worker_.buffers().release(ex.upstream_in);
  ex.upstream_in = nullptr;
  if (!keep_client) {
    // The client asked to close and sent nothing more: nothing can arrive that would turn our
    // close into a reset, so there is nothing to linger for.
    const bool client_done = !ex.request.keep_alive && ex.request_complete && !more_input;
    release_exchange();
    if (client_done) {
      close_now();
    } else {
      linger_close();
    }
    return;
  }
  next_request();
}

// Pipelined requests answered locally (errors, maintenance) finish inside this call; they are
// taken one after the other here rather than by recursion, so a long pipeline costs no stack.
void ClientSession::next_request() {
  if (in_next_request_) {
    next_request_again_ = true;
    return;
  }
  in_next_request_ = true;
  do {
    next_request_again_ = false;
    start_next_request();
  } while (next_request_again_ && state_ != State::Closed);
  in_next_request_ = false;
}

void ClientSession::start_next_request() {
  release_exchange();
  if (!follow_reload()) {
    close_now();
    return;
  }
  // The next request (pipelined bytes, if any) moves to the front of the buffer.
  if (in_ != nullptr) {
    std::memmove(in_->data, in_->data + parsed_, in_->end - parsed_);
    in_->end -= parsed_;
    parsed_ = 0;
  }
  release_client_buffer_if_empty();
  state_ = State::ReadingHead;
  request_started_ = in_ != nullptr;
  request_started_ms_ = worker_.loop().now_ms();
  restart_body_rate_window();
  request_parser_.resume();
  if (client_eof_) {
    // Nothing more will come: what is buffered is the last of it.
    if (in_ == nullptr) {
      close_now();
      return;
    }
    process_client_input();
    if (state_ == State::ReadingHead) close_now();  // an unfinished head that can never complete
    return;
  }
  arm_client_timer(request_started_ ? frontend_->timeouts.http_request : frontend_->timeouts.keep_alive);
  if (client_.read_start() != 0) {
    close_now();
    return;
  }
  if (in_ != nullptr) process_client_input();
}

void ClientSession::release_client_buffer_if_empty() {
  if (in_ != nullptr && in_->end == 0) {
    worker_.buffers().release(in_);
    in_ = nullptr;
  }
}

void ClientSession::respond_error(int status, state::Outcome outcome) {
  if (exchange_ && exchange_->response_started) {
    abort_exchange(outcome);
    return;
  }
  const bool head_request = exchange_ && exchange_->request.method == http::Method::Head;
  const std::string_view response =
      head_request ? fallback::error_response_head_only(status) : fallback::error_response(status);
  if (exchange_ == nullptr) exchange_ = worker_.acquire_exchange(request_events_->response);
  if (exchange_->started_ms == 0) {
    exchange_->started_ms = request_started_ ? request_started_ms_ : worker_.loop().now_ms();
  }
  Exchange& ex = *exchange_;
  ex.status = status;
  ex.outcome = outcome;
  ex.bytes_out = response.size();
  release_upstream(false);
  record_exchange();
  release_exchange();
  state_ = State::Lingering;
  const net::IoSlice slice{response.data(), response.size()};
  switch (client_.write({&slice, 1})) {
    case net::WriteOutcome::Done:
      linger_close();
      return;
    case net::WriteOutcome::Pending:
      arm_client_timer(frontend_->timeouts.client);  // on_write_done lingers once it is out
      return;
    case net::WriteOutcome::Failed:
      close_now(true);
      return;
  }
}

// Shut our side down and read until the client closes (or briefly), so that the client gets the
// last response rather than a reset caused by bytes it had already sent.
void ClientSession::linger_close() {
  state_ = State::Lingering;
  worker_.buffers().release(in_);
  in_ = nullptr;
  parsed_ = 0;
  if (client_eof_) {
    close_now();
    return;
  }
  client_.shutdown();
  arm_client_timer(kLingerTime);
  if (client_.read_start() != 0) close_now();
}

void ClientSession::abort_exchange(state::Outcome outcome) {
  if (exchange_) {
    exchange_->outcome = outcome;
    record_exchange();
    release_upstream(false);
  }
  close_now(true);
}

void ClientSession::close_now(bool reset) {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  if (exchange_) release_upstream(false);
  timer_.close(this);
  client_.close(this, reset);
}

void ClientSession::on_handle_closed() {
  if (--open_handles_ == 0) worker_.on_session_closed(this);
}

// The one place an exchange is accounted for: its outcome goes to the counters of its frontend,
// backend and server, and to the access log.
void ClientSession::record_exchange() {
  if (!exchange_ || exchange_->recorded) return;
  Exchange& ex = *exchange_;
  ex.recorded = true;
  const std::uint64_t now = worker_.loop().now_ms();
  count_exchange(ex, now);
  auto& log = worker_.access_log();
  if (!log.enabled()) return;
  char client[64];
  const int client_length = std::snprintf(client, sizeof client, "%s:%u", client_ip_.c_str(), client_port_);
  log::AccessRecord record;
  record.client = {client, static_cast<std::size_t>(client_length > 0 ? client_length : 0)};
  record.frontend = frontend_->name;
  record.backend = ex.backend != nullptr ? std::string_view(ex.backend->config.name) : std::string_view("-");
  record.server = ex.server != nullptr ? std::string_view(ex.server->config.name) : std::string_view("-");
  const bool have_head = ex.request.target.length > 0;
  record.method = have_head ? http::method_name(ex.request.method) : "-";
  if (!ex.target_copy.empty()) {
    record.target = ex.target_copy;
  } else if (have_head && in_ != nullptr && ex.request.target.offset + ex.request.target.length <= in_->end) {
    record.target = ex.request.target.view(in_->data);
  } else {
    record.target = "-";
  }
  record.version_minor = ex.request.version_minor;
  record.status = ex.status;
  record.bytes_in = ex.bytes_in;
  record.bytes_out = ex.bytes_out;
  const auto since_start = [&](std::uint64_t at) -> std::int64_t {
    return at == 0 ? -1 : static_cast<std::int64_t>(at - ex.started_ms);
  };
  record.head_ms = since_start(ex.head_ms);
  // Waiting for a server connection: from the parsed head to a connection ready for it.
  record.connect_ms = ex.connected_ms == 0 || ex.head_ms == 0 ? -1 : static_cast<std::int64_t>(ex.connected_ms - ex.head_ms);
  record.response_ms = ex.first_response_ms == 0 || ex.connected_ms == 0
                           ? -1
                           : static_cast<std::int64_t>(ex.first_response_ms - ex.connected_ms);
  record.total_ms = static_cast<std::int64_t>(now - ex.started_ms);
  record.retries = ex.retries;
  record.termination = state::outcome_name(ex.outcome);
  log.record(record);
}

void ClientSession::count_exchange(const Exchange& ex, std::uint64_t now) {
  const std::size_t worker = worker_.id();
  const state::ExchangeRecord record{ex.outcome, ex.status, ex.bytes_in, ex.bytes_out, now - ex.started_ms};
  state::count_exchange((*snapshot_->frontends[frontend_index_]->traffic)[worker], record);
  if (ex.backend != nullptr) state::count_exchange((*ex.backend->runtime->traffic)[worker], record);
  if (ex.server != nullptr) state::count_exchange((*ex.server->runtime.traffic)[worker], record);
}

void ClientSession::note_traffic_failure(const char* reason, bool conclusive) {
  Exchange& ex = *exchange_;
  if (ex.server == nullptr) return;
  (*ex.server->runtime.traffic)[worker_.id()].passive_failures.add();
  if (!ex.backend->config.check) return;  // only checked servers come back
  upstream::Server& server = *ex.server;
  const int failures = server.runtime.passive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (!conclusive && failures < ex.backend->config.check->fall) return;
  // Out of rotation on every worker at once, before the checker's DOWN line: no request goes to it
  // in between. The worker that takes it out reports it; the checker clears the mark when it acts.
  if (server.runtime.unreachable.exchange(true, std::memory_order_relaxed) || worker_.checker() == nullptr) return;
  worker_.checker()->report_traffic_failure(
      server.runtime_entry, conclusive ? std::string(reason)
                         : std::string(reason) + ", " + std::to_string(failures) +
                               (failures == 1 ? " consecutive failure" : " consecutive failures"));
}

// Every server of the backend failed to connect for this request, and the client gets the
// maintenance answer: the backend is unusable from now on, for navigations too, until a check
// or a response proves a server usable again.
void ClientSession::mark_tried_servers_unreachable() {
  const Exchange& ex = *exchange_;
  if (!ex.backend->config.check) return;  // nothing would ever bring them back
  for (const auto& server : ex.backend->servers) {
    if (ex.tried.contains(server->index)) server->runtime.unreachable.store(true, std::memory_order_relaxed);
  }
}

// How long the current server may stay silent: the server timeout, or, for an idempotent request
// to a server whose last check failed, only as long as that check waited (then it goes elsewhere).
core::Duration ClientSession::response_wait() {
  Exchange& ex = *exchange_;
  const auto& config = ex.backend->config;
  ex.short_leash = config.check && ex.server->runtime.failing_check.load(std::memory_order_relaxed) &&
                   !ex.response_byte_seen && is_idempotent(ex.request.method) &&
                   config.check->timeout < config.timeouts.server;
  return ex.short_leash ? config.check->timeout : config.timeouts.server;
}

void ClientSession::on_server_trouble() {
  if (!exchange_ || state_ != State::Forwarding) return;
  Exchange& ex = *exchange_;
  if (ex.server == nullptr || ex.upstream == nullptr || ex.response_byte_seen || ex.response_started ||
      !ex.request_complete || !is_idempotent(ex.request.method)) {
    return;
  }
  if (ex.server->healthy()) {
    // Only a failed check, so far: a request that has waited at least as long as the check did
    // is most likely stuck on the same silent server.
    const auto& check = ex.backend->config.check;
    if (!check || !ex.server->runtime.failing_check.load(std::memory_order_relaxed)) return;
    const auto waited = static_cast<std::int64_t>(worker_.loop().now_ms() - ex.connected_ms);
    if (ex.connected_ms == 0 || waited < check->timeout.count()) return;
    // With nowhere else to go, a new connection to the same silent server would only add load.
    if (!other_server_left()) return;
  }
  try_retry(UpstreamFailure::ServerDown);
}

void ClientSession::respond_maintenance(const upstream::Backend& backend) {
  const Exchange& ex = *exchange_;
  const bool head_only = ex.request.method == http::Method::Head;
  respond_local(ex.wants_html ? snapshot_->maintenance.html(head_only) : snapshot_->maintenance.json(backend.index, head_only),
                503, state::Outcome::Maintenance);
}

void ClientSession::respond_local(std::string_view response, int status, state::Outcome outcome) {
  Exchange& ex = *exchange_;
  release_upstream(false);
  ex.status = status;
  ex.outcome = outcome;
  ex.to_upstream.clear();
  ex.to_client.clear();
  ex.to_client.add_external(response.data(), response.size());
  ex.response_complete = true;
  // The connection stays usable unless part of a request body was never read.
  ex.plan.keep_client_alive = ex.request.keep_alive && !ex.request.upgrade;
  state_ = State::Forwarding;
  flush_to_client();
}

// ---------------------------------------------------------------------------------------------
// Upgraded connections: bytes both ways until one side closes or the tunnel idles out.

void ClientSession::start_tunnel() {
  Exchange& ex = *exchange_;
  record_exchange();
  state_ = State::Tunnel;
  timer_.set(frontend_->timeouts.tunnel);
  ex.upstream->timer().set(frontend_->timeouts.tunnel);
  // Bytes that arrived behind the heads belong to the new protocol.
  if (ex.upstream_in != nullptr) {
    net::Buffer& up = *ex.upstream_in;
    std::memmove(up.data, up.data + ex.upstream_parsed, up.end - ex.upstream_parsed);
    up.end -= ex.upstream_parsed;
    ex.upstream_parsed = 0;
  }
  if (in_ != nullptr) {
    if (ex.target_copy.empty()) ex.target_copy.assign(ex.request.target.view(in_->data));
    std::memmove(in_->data, in_->data + parsed_, in_->end - parsed_);
    in_->end -= parsed_;
    parsed_ = 0;
  }
  if (!client_eof_) client_.read_start();
  if (!ex.upstream_eof) ex.upstream->stream().read_start();
  pump_tunnel();
}

void ClientSession::pump_tunnel() {
  Exchange& ex = *exchange_;
  if (in_ != nullptr && in_->end > 0 && !ex.upstream->stream().write_pending()) {
    const net::IoSlice slice{in_->data, in_->end};
    switch (ex.upstream->stream().write({&slice, 1})) {
      case net::WriteOutcome::Done:
        in_->end = 0;
        if (!client_eof_) client_.read_start();  // a full buffer had stopped it
        break;
      case net::WriteOutcome::Pending:
        ex.tunnel_write_pending = true;
        client_.read_stop();
        break;
      case net::WriteOutcome::Failed:
        abort_exchange(state::Outcome::TunnelClosed);
        return;
    }
  }
  net::Buffer* up = ex.upstream_in;
  if (up != nullptr && up->end > 0 && !client_.write_pending()) {
    const net::IoSlice slice{up->data, up->end};
    switch (client_.write({&slice, 1})) {
      case net::WriteOutcome::Done:
        up->end = 0;
        break;
      case net::WriteOutcome::Pending:
        ex.upstream->stream().read_stop();
        break;
      case net::WriteOutcome::Failed:
        abort_exchange(state::Outcome::TunnelClosed);
        return;
    }
  }
}

}  // namespace haven::proxy
