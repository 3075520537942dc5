#include "haven/proxy/http1_connection.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "haven/fallback/status_feed.hpp"
#include "haven/http/head_writer.hpp"
#include "haven/net/socket_address.hpp"
#include "haven/proxy/worker.hpp"

namespace haven::proxy {

namespace {

constexpr core::Duration kLingerTime{1000};  // after an error response: time for the client to read it
// Draining: how long an idle keep-alive connection stays for a request already on its way. A busy
// client's next request arrives within milliseconds of the last response; a truly idle one costs
// the exit this much at most.
constexpr core::Duration kDrainIdleGrace{1000};
// What a status-feed subscriber may send after its request before it is cut off.
constexpr std::size_t kMaxSubscriberInput = 4096;
// Bytes read while lingering go nowhere. One per worker thread: workers never share mutable memory.
thread_local char discard_scratch[4096];

}  // namespace

// The server side of a tunnel: its stream's events, once the exchange has handed it over.
struct Http1Connection::TunnelEvents final : net::StreamHandler {
  explicit TunnelEvents(Http1Connection& c) : connection(c) {}
  char* on_alloc(std::size_t& capacity) override { return connection.on_tunnel_alloc(capacity); }
  void on_read(std::size_t length) override { connection.on_tunnel_read(length); }
  void on_read_end(int /*status*/) override { connection.on_tunnel_read_end(); }
  void on_write_done(int status) override { connection.on_tunnel_write_done(status); }
  void on_connect_done(int /*status*/) override {}
  Http1Connection& connection;
};

Http1Connection::Http1Connection(Worker& worker, std::shared_ptr<const Snapshot> snapshot, std::size_t frontend_index)
    : DownstreamConnection(std::move(snapshot), frontend_index),
      worker_(worker),
      frontend_(&snapshot_->config->frontends[frontend_index]),
      tcp_(worker.loop(), *this),
      stream_(&tcp_),
      timer_(worker.loop(), &Http1Connection::on_client_timer, this),
      request_parser_(http::MessageKind::Request, *this) {
  apply_frontend_limits();
}

Http1Connection::~Http1Connection() {
  worker_.status_feed().unsubscribe(*this);
  worker_.buffers().release(in_);
  worker_.buffers().release(tunnel_server_bytes_);
  if (exchange_ != nullptr) worker_.release_exchange(exchange_);
}

void Http1Connection::apply_frontend_limits() {
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
bool Http1Connection::follow_reload() {
  const std::shared_ptr<const Snapshot>& current = worker_.snapshot();
  if (current == snapshot_) return true;
  const auto& frontends = current->config->frontends;
  // The same frontend, or, on an explicit port, whatever frontend took over its listener (a
  // rename): the supervisor's rule for keeping listeners.
  std::optional<std::size_t> next;
  // A connection never changes its transport: a frontend that now speaks TLS (or stopped) is not
  // this connection's any more.
  const bool secure = tls_ != nullptr;
  for (std::size_t i = 0; i < frontends.size() && !next; ++i) {
    if (frontends[i].name == frontend_->name && frontends[i].bind.same_endpoint(frontend_->bind) &&
        frontends[i].tls.enabled() == secure) {
      next = i;
    }
  }
  for (std::size_t i = 0; i < frontends.size() && !next && frontend_->bind.port != 0; ++i) {
    if (frontends[i].bind.same_endpoint(frontend_->bind) && frontends[i].tls.enabled() == secure) next = i;
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

void Http1Connection::release_exchange() {
  worker_.release_exchange(exchange_);
  exchange_ = nullptr;
}

void Http1Connection::start(int fd, const sockaddr* peer) {
  if (tcp_.adopt(fd) != 0) {
    ::close(fd);
    close_now();
    return;
  }
  tcp_.set_nodelay();
  net::SocketAddress::describe(peer, address_.ip, address_.port);
  if (const auto& context = snapshot_->tls.frontends.empty() ? nullptr : snapshot_->tls.frontends[frontend_index_]) {
    net::StreamHandler& handler = *this;
    tls_ = std::make_unique<tls::TlsStream>(worker_.loop(), tcp_, worker_.buffers(), context, handler);
    stream_ = tls_.get();
    // The handshake has its own time; the wait for the first request starts when it is done.
    timer_.set(frontend_->timeouts.tls_handshake);
  } else {
    timer_.set(frontend_->timeouts.http_request);
  }
  if (stream_->read_start() != 0) close_now();
}

void Http1Connection::on_connect_done(int status) {
  if (status != 0 || tls_ == nullptr || state_ == State::Closed) return;
  auto& counters = (*snapshot_->frontends[frontend_index_]->traffic)[worker_.id()];
  (tls_->handshake_result() == tls::HandshakeResult::Resumed ? counters.tls_resumed : counters.tls_full).add();
  if (state_ == State::ReadingHead && !request_started_) timer_.set(frontend_->timeouts.http_request);
}

void Http1Connection::count_tls_failure(bool timed_out) {
  if (tls_ == nullptr || tls_->handshake_done()) return;
  auto& counters = (*snapshot_->frontends[frontend_index_]->traffic)[worker_.id()];
  (timed_out ? counters.tls_timeouts : counters.tls_failures).add();
}

void Http1Connection::drain() {
  if (state_ == State::Subscribed) return close_now();
  if (state_ == State::ReadingHead && !request_started_) {
    timer_.set(std::min(frontend_->timeouts.keep_alive, kDrainIdleGrace));
  }
}

void Http1Connection::on_reload() {
  if (state_ == State::Subscribed) {
    // A subscriber stays while its frontend does, and gets the feed as the new configuration has it.
    if (follow_reload()) {
      on_status_change();
    } else {
      close_now();
    }
    return;
  }
  // An idle connection of a frontend the reload removed is closed now (a client takes that as the
  // usual end of an idle keep-alive connection); a busy one finishes its request first.
  if (state_ == State::ReadingHead && !request_started_ && !follow_reload()) close_now();
}

void Http1Connection::abort_now() {
  if (state_ == State::Tunnel) {
    end_tunnel(state::Outcome::Shutdown);
  } else if (exchange_ != nullptr) {
    exchange_->abort(state::Outcome::Shutdown);
  } else {
    close_now(true);
  }
}

void Http1Connection::on_server_trouble() {
  if (state_ == State::InExchange && exchange_ != nullptr) exchange_->on_server_trouble();
}

// ---------------------------------------------------------------------------------------------
// Client side

char* Http1Connection::on_alloc(std::size_t& capacity) {
  if (state_ == State::Lingering || state_ == State::Closed || state_ == State::Subscribed) {
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
void Http1Connection::on_read(std::size_t length) {
  if (state_ == State::Lingering || state_ == State::Closed) return;
  if (state_ == State::Subscribed) {
    // Nothing is expected from a subscriber; a little is ignored, a stream of it is abuse.
    subscriber_input_ += static_cast<std::uint32_t>(std::min<std::size_t>(length, kMaxSubscriberInput));
    if (subscriber_input_ >= kMaxSubscriberInput) close_now(true);
    return;
  }
  in_->end += length;
  if (state_ == State::Tunnel) {
    if (in_->room(false) == 0) stream_->read_stop();
    // Traffic either way keeps the tunnel alive.
    timer_.set(frontend_->timeouts.tunnel);
    if (tunnel_upstream_ != nullptr) tunnel_upstream_->timer().set(frontend_->timeouts.tunnel);
    pump_tunnel();
    return;
  }
  if (state_ == State::ReadingHead && !request_started_) {
    // The head timer runs from the first byte of a request (slowloris), not from the last one.
    request_started_ = true;
    request_started_ms_ = worker_.loop().now_ms();
    timer_.set(frontend_->timeouts.http_request);
  } else if (state_ == State::InExchange && exchange_->forwarding()) {
    timer_.set(frontend_->timeouts.client);
  }
  if (frontend_->min_body_rate != 0 && state_ == State::InExchange && !exchange_->request_complete() &&
      !body_rate_holds(length)) {
    return;
  }
  process_client_input();
  // Judged after the bytes were handled: a read that finished a head may have filled the buffer
  // past what a body may hold, and the body waits until what is there has gone up.
  if ((state_ == State::InExchange || state_ == State::ReadingHead) && in_ != nullptr &&
      in_->room(state_ == State::ReadingHead) == 0) {
    stream_->read_stop();
  }
}

void Http1Connection::on_read_end(int status) {
  client_eof_ = true;
  // A client that goes before its handshake (a preconnect, a TCP check) did not fail one.
  if (status == net::Stream::kTlsFailed) count_tls_failure(false);
  switch (state_) {
    case State::ReadingHead:
      // A client that leaves between requests is the normal end of keep-alive.
      close_now();
      return;
    case State::Lingering:
    case State::Subscribed:
      close_now();
      return;
    case State::Tunnel:
      if (tunnel_upstream_ != nullptr) tunnel_upstream_->stream().shutdown();
      if (tunnel_upstream_eof_) close_now();
      return;
    case State::InExchange:
      exchange_->on_client_eof();
      return;
    case State::Closed:
      return;
  }
}

void Http1Connection::on_write_done(int status) {
  if (state_ == State::Closed) return;
  if (status != 0) {
    if (state_ == State::Tunnel) {
      end_tunnel(state::Outcome::ClientAbort);
    } else if (exchange_ != nullptr) {
      exchange_->abort(state::Outcome::ClientAbort);
    } else {
      close_now(true);
    }
    return;
  }
  switch (state_) {
    case State::Lingering:
      linger_close();
      return;
    case State::Tunnel:
      tunnel_server_bytes_->end = 0;
      if (!tunnel_upstream_eof_) tunnel_upstream_->stream().read_start();
      return;
    case State::InExchange:
      exchange_->response_written();
      return;
    case State::Subscribed:
      subscriber_writing_ = false;
      subscriber_stalled_ = false;
      subscriber_out_.clear();
      if (subscriber_stale_) {
        subscriber_stale_ = false;
        on_status_change();
      }
      return;
    default:
      return;
  }
}

void Http1Connection::process_client_input() {
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
  if (state_ == State::InExchange) exchange_->on_request_bytes();
}

http::MessageHead& Http1Connection::on_message_begin() {
  if (exchange_ == nullptr) {
    exchange_ = worker_.acquire_exchange();
    exchange_->begin(*this, *snapshot_, frontend_index_,
                     request_started_ ? request_started_ms_ : worker_.loop().now_ms());
  }
  return exchange_->request();
}

void Http1Connection::on_body(const char* data, std::size_t length) { exchange_->on_request_body(data, length); }

int Http1Connection::on_message_complete() {
  // Only a paused parser reaches the end of a message: the exchange exists by then.
  if (exchange_ == nullptr) return http::kSinkPause;
  return exchange_->on_request_complete();
}

// A body trickling in slower than min_body_rate (averaged over a window) ends with 408: the
// connection slot and the server connection it holds are worth more than the upload. The window
// starts over whenever haven itself stopped reading (a server slow to take the body).
bool Http1Connection::body_rate_holds(std::size_t length) {
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

void Http1Connection::restart_body_rate_window() {
  body_window_start_ms_ = worker_.loop().now_ms();
  body_window_bytes_ = 0;
}

void Http1Connection::on_request_head_parsed() {
  timer_.clear();
  restart_body_rate_window();
  // A request that began before a reload reached this worker still gets the routes in force.
  follow_reload();
  state_ = State::InExchange;
  exchange_->on_request_head(*snapshot_, frontend_index_);
}

void Http1Connection::pull_request_body() {
  // Even with no new byte: a request without body completes only once the paused parser runs
  // past its head.
  request_parser_.resume();
  const auto result = request_parser_.execute(in_->data, in_->data + parsed_, in_->end - parsed_);
  parsed_ += result.consumed;
  if (result.status == http::ExecuteStatus::Error) exchange_->request_body_invalid();
}

void Http1Connection::request_body_wanted() {
  if (parsed_ < in_->end) {
    // Body bytes arrived while the write was in flight: they go up now.
    exchange_->on_request_bytes();
    return;
  }
  make_room_in_client_buffer();
  timer_.set(frontend_->timeouts.client);
  if (!client_eof_ && in_->room(false) > 0) {
    if (!stream_->reading()) restart_body_rate_window();  // haven, not the client, was the holdup
    stream_->read_start();
  }
}

// Body bytes already sent are dropped once the buffer is full. From then on the request can no
// longer be replayed to another server.
void Http1Connection::make_room_in_client_buffer() {
  if (in_->room(false) > 0 || parsed_ == 0) return;
  exchange_->request_bytes_dropped();
  std::memmove(in_->data, in_->data + parsed_, in_->end - parsed_);
  in_->end -= parsed_;
  parsed_ = 0;
}

// ---------------------------------------------------------------------------------------------
// Between requests

void Http1Connection::exchange_finished(bool keep_alive) {
  // Requests the client pipelined before it half-closed are still answered, one by one.
  const bool more_input = in_ != nullptr && parsed_ < in_->end;
  const bool keep_client = keep_alive && !worker_.draining() && (!client_eof_ || more_input);
  if (!keep_client) {
    // The client asked to close and sent nothing more: nothing can arrive that would turn our
    // close into a reset, so there is nothing to linger for.
    const bool client_done = !exchange_->request().keep_alive && exchange_->request_complete() && !more_input;
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
void Http1Connection::next_request() {
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

void Http1Connection::start_next_request() {
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
  timer_.set(request_started_ ? frontend_->timeouts.http_request : frontend_->timeouts.keep_alive);
  if (stream_->read_start() != 0) {
    close_now();
    return;
  }
  if (in_ != nullptr) process_client_input();
}

void Http1Connection::release_client_buffer_if_empty() {
  if (in_ != nullptr && in_->end == 0) {
    worker_.buffers().release(in_);
    in_ = nullptr;
  }
}

// ---------------------------------------------------------------------------------------------
// Endings

void Http1Connection::respond_error(int status, state::Outcome outcome) {
  if (exchange_ == nullptr) {
    exchange_ = worker_.acquire_exchange();
    exchange_->begin(*this, *snapshot_, frontend_index_,
                     request_started_ ? request_started_ms_ : worker_.loop().now_ms());
  }
  exchange_->respond_error(status, outcome);
}

void Http1Connection::send_final_response(std::string_view response) {
  release_exchange();
  state_ = State::Lingering;
  // On a TLS frontend with hsts, errors carry it too: a copy with the field added, kept here
  // until the write is done.
  if (tls_ != nullptr && !frontend_->hsts.empty()) {
    final_response_.clear();
    const std::string_view body =
        http::append_head_with_field(final_response_, response, "Strict-Transport-Security", frontend_->hsts);
    final_response_.append(body);
    response = final_response_;
  }
  const net::IoSlice slice{response.data(), response.size()};
  switch (stream_->write({&slice, 1})) {
    case net::WriteOutcome::Done:
      linger_close();
      return;
    case net::WriteOutcome::Pending:
      timer_.set(frontend_->timeouts.client);  // on_write_done lingers once it is out
      return;
    case net::WriteOutcome::Failed:
      close_now(true);
      return;
  }
}

// Shut our side down and read until the client closes (or briefly), so that the client gets the
// last response rather than a reset caused by bytes it had already sent.
void Http1Connection::linger_close() {
  state_ = State::Lingering;
  worker_.buffers().release(in_);
  in_ = nullptr;
  parsed_ = 0;
  if (client_eof_) {
    close_now();
    return;
  }
  stream_->shutdown();
  timer_.set(kLingerTime);
  if (stream_->read_start() != 0) close_now();
}

void Http1Connection::close_now(bool reset) {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  if (tunnel_upstream_ != nullptr) {
    tunnel_upstream_->close();
    tunnel_upstream_ = nullptr;
  }
  if (exchange_ != nullptr) release_exchange();
  worker_.status_feed().unsubscribe(*this);
  timer_.close(this);
  stream_->close(this, reset);  // a TLS stream closes the TCP stream under it
}

void Http1Connection::on_handle_closed() {
  if (--open_handles_ == 0) worker_.on_connection_closed(this);
}

void Http1Connection::on_client_timer(void* self) noexcept {
  auto& connection = *static_cast<Http1Connection*>(self);
  switch (connection.state_) {
    case State::ReadingHead:
      if (connection.request_started_) {
        connection.respond_error(408, state::Outcome::HeadTimeout);
      } else {
        connection.count_tls_failure(true);
        connection.close_now();  // idle keep-alive connection (or a TLS handshake that never ended)
      }
      return;
    case State::Lingering:
      connection.close_now();
      return;
    case State::Subscribed:
      return;  // no timer runs while subscribed: heartbeats tell a dead reader
    case State::Tunnel:
      connection.end_tunnel(state::Outcome::TunnelTimeout);
      return;
    case State::InExchange:
      connection.exchange_->on_client_timeout();
      return;
    case State::Closed:
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Status-feed subscribers: the feed as an event stream, one event per change of state, a comment
// line every heartbeat; only the latest state matters, so a reader that is behind gets that, once.

void Http1Connection::become_status_subscriber() {
  release_exchange();
  state_ = State::Subscribed;
  timer_.clear();
  // Whatever the client pipelined behind its subscription is not for us.
  worker_.buffers().release(in_);
  in_ = nullptr;
  parsed_ = 0;
  worker_.status_feed().subscribe(*this);
  const fallback::StatusFeedAnswer& answer = worker_.status_feed().answer(*worker_.snapshot(), *snapshot_, frontend_index_);
  std::string opening;
  const std::string_view head = fallback::event_stream_head();
  if (tls_ != nullptr && !frontend_->hsts.empty()) {
    opening.append(http::append_head_with_field(opening, head, "Strict-Transport-Security", frontend_->hsts));
  } else {
    opening.append(head);
  }
  opening.append(answer.event());
  subscriber_sent_ = answer.hash();
  send_to_subscriber(opening);
  if (state_ == State::Subscribed && stream_->read_start() != 0) close_now();
}

void Http1Connection::send_to_subscriber(std::string_view bytes) {
  if (subscriber_writing_) {
    subscriber_stale_ = true;
    return;
  }
  subscriber_out_.assign(bytes);
  const net::IoSlice slice{subscriber_out_.data(), subscriber_out_.size()};
  switch (stream_->write({&slice, 1})) {
    case net::WriteOutcome::Done:
      // Idle subscribers hold no buffer: thousands of open maintenance pages cost little.
      std::string().swap(subscriber_out_);
      return;
    case net::WriteOutcome::Pending:
      subscriber_writing_ = true;
      return;
    case net::WriteOutcome::Failed:
      close_now(true);
      return;
  }
}

void Http1Connection::on_status_change() {
  if (state_ != State::Subscribed) return;
  const fallback::StatusFeedAnswer& answer = worker_.status_feed().answer(*worker_.snapshot(), *snapshot_, frontend_index_);
  if (answer.hash() == subscriber_sent_) return;
  if (subscriber_writing_) {
    subscriber_stale_ = true;  // sent once the write in flight is done
    return;
  }
  subscriber_sent_ = answer.hash();
  send_to_subscriber(answer.event());
}

void Http1Connection::on_status_heartbeat() {
  if (state_ != State::Subscribed) return;
  if (subscriber_writing_) {
    // Still not read since the last heartbeat: the reader is gone or stuck; its slot is worth more.
    if (subscriber_stalled_) {
      close_now(true);
    } else {
      subscriber_stalled_ = true;
    }
    return;
  }
  send_to_subscriber(fallback::kEventStreamHeartbeat);
}

// ---------------------------------------------------------------------------------------------
// Upgraded connections: bytes both ways until one side closes or the tunnel idles out.

void Http1Connection::become_tunnel(upstream::Connection* upstream, net::Buffer* server_bytes) {
  state_ = State::Tunnel;
  if (tunnel_events_ == nullptr) tunnel_events_ = std::make_unique<TunnelEvents>(*this);
  tunnel_upstream_ = upstream;
  tunnel_server_bytes_ = server_bytes;
  upstream->stream().set_handler(*tunnel_events_);
  upstream->timer().set_callback(&Http1Connection::on_tunnel_timer, this);
  timer_.set(frontend_->timeouts.tunnel);
  upstream->timer().set(frontend_->timeouts.tunnel);
  // Bytes that arrived behind the request head belong to the new protocol.
  if (in_ != nullptr) {
    std::memmove(in_->data, in_->data + parsed_, in_->end - parsed_);
    in_->end -= parsed_;
    parsed_ = 0;
  }
  // Whatever the exchange still has queued for the server (the upgrade request) finishes first.
  tunnel_write_pending_ = false;
  if (!client_eof_) stream_->read_start();
  upstream->stream().read_start();
  pump_tunnel();
}

void Http1Connection::pump_tunnel() {
  net::Stream& server = tunnel_upstream_->stream();
  if (in_ != nullptr && in_->end > 0 && !server.write_pending()) {
    const net::IoSlice slice{in_->data, in_->end};
    switch (server.write({&slice, 1})) {
      case net::WriteOutcome::Done:
        in_->end = 0;
        if (!client_eof_) stream_->read_start();  // a full buffer had stopped it
        break;
      case net::WriteOutcome::Pending:
        tunnel_write_pending_ = true;
        stream_->read_stop();
        break;
      case net::WriteOutcome::Failed:
        end_tunnel(state::Outcome::TunnelClosed);
        return;
    }
  }
  net::Buffer* up = tunnel_server_bytes_;
  if (up != nullptr && up->end > 0 && !stream_->write_pending()) {
    const net::IoSlice slice{up->data, up->end};
    switch (stream_->write({&slice, 1})) {
      case net::WriteOutcome::Done:
        up->end = 0;
        break;
      case net::WriteOutcome::Pending:
        server.read_stop();
        break;
      case net::WriteOutcome::Failed:
        end_tunnel(state::Outcome::TunnelClosed);
        return;
    }
  }
}

char* Http1Connection::on_tunnel_alloc(std::size_t& capacity) {
  if (tunnel_server_bytes_ == nullptr) tunnel_server_bytes_ = worker_.buffers().acquire();
  if (tunnel_server_bytes_ == nullptr) {
    capacity = 0;
    return discard_scratch;
  }
  capacity = tunnel_server_bytes_->room(false);
  if (capacity == 0) capacity = tunnel_server_bytes_->room(true);
  return tunnel_server_bytes_->data + tunnel_server_bytes_->end;
}

void Http1Connection::on_tunnel_read(std::size_t length) {
  if (state_ != State::Tunnel) return;
  tunnel_server_bytes_->end += length;
  tunnel_upstream_->timer().set(frontend_->timeouts.tunnel);
  timer_.set(frontend_->timeouts.tunnel);
  pump_tunnel();
}

void Http1Connection::on_tunnel_read_end() {
  if (state_ != State::Tunnel) return;
  tunnel_upstream_eof_ = true;
  stream_->shutdown();
  if (client_eof_) close_now();
}

void Http1Connection::on_tunnel_write_done(int status) {
  if (state_ != State::Tunnel) return;
  if (status != 0) {
    end_tunnel(state::Outcome::TunnelClosed);
    return;
  }
  // The write that finished may be the upgrade request itself; only a tunnel write empties the
  // buffer it was sent from.
  if (tunnel_write_pending_) {
    tunnel_write_pending_ = false;
    in_->end = parsed_ = 0;
  }
  if (!client_eof_) stream_->read_start();
  pump_tunnel();
}

void Http1Connection::end_tunnel(state::Outcome outcome) {
  if (exchange_ != nullptr) exchange_->end_tunnel(outcome);
  close_now(true);
}

void Http1Connection::on_tunnel_timer(void* self) noexcept {
  auto& connection = *static_cast<Http1Connection*>(self);
  if (connection.state_ == State::Tunnel) connection.end_tunnel(state::Outcome::TunnelTimeout);
}

}  // namespace haven::proxy
