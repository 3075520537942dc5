#include "haven/proxy/exchange.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "haven/fallback/error_responses.hpp"
#include "haven/fallback/maintenance.hpp"
#include "haven/health/checker.hpp"
#include "haven/http/method.hpp"
#include "haven/proxy/body_queue.hpp"
#include "haven/proxy/maintenance_policy.hpp"
#include "haven/proxy/stale_policy.hpp"
#include "haven/proxy/worker.hpp"
#include "haven/upstream/backend_mode.hpp"

namespace haven::proxy {

namespace {
// A server's bytes that cannot be taken (no memory for a buffer) go nowhere. One per worker
// thread: workers never share mutable memory.
thread_local char upstream_discard[256];
}  // namespace

Exchange::Exchange(Worker& worker) : worker_(worker), reader_(*this) {}

void Exchange::begin(ExchangeOwner& owner, const Snapshot& snapshot, std::size_t frontend_index,
                     std::uint64_t started_ms) {
  owner_ = &owner;
  snapshot_ = &snapshot;
  frontend_index_ = frontend_index;
  phase_ = Phase::Receiving;
  request_.clear();
  response_.clear();
  to_upstream_.clear();
  to_client_.clear();
  replay_body_.clear();
  target_copy_.clear();
  backend_ = nullptr;
  server_ = nullptr;
  upstream_ = nullptr;
  plan_ = {};
  tried_ = {};
  outcome_ = state::Outcome::Ok;
  retries_ = status_ = 0;
  bytes_in_ = bytes_out_ = 0;
  started_ms_ = started_ms;
  head_ms_ = connected_ms_ = first_response_ms_ = 0;
  connecting_ = request_complete_ = request_written_ = response_byte_seen_ = false;
  response_started_ = response_complete_ = response_before_request_end_ = upstream_reusable_ = false;
  replayable_ = true;
  upgrade_response_ = fresh_connection_only_ = counted_active_ = wants_html_ = false;
  upstream_eof_ = recorded_ = short_leash_ = false;
  stale_candidate_ = stale_instead_ = capturing_ = false;
  replaced_status_ = 0;
}

void Exchange::end_use() {
  serving_copy_.reset();
  stop_capture();
  release_upstream(false);
  reader_.release(worker_.buffers());
  owner_ = nullptr;
  phase_ = Phase::Done;
}

std::string_view Exchange::target() const {
  if (!target_copy_.empty()) return target_copy_;
  return request_.target.view(owner_->request_base());
}

// ---------------------------------------------------------------------------------------------
// Request side

void Exchange::on_request_head(const Snapshot& snapshot, std::size_t frontend_index) {
  snapshot_ = &snapshot;
  frontend_index_ = frontend_index;
  head_ms_ = worker_.loop().now_ms();
  const char* base = owner_->request_base();
  const auto target_text = request_.target.view(base);
  backend_ = snapshot_->backends[snapshot_->routes[frontend_index_].backend_for(target_text)].get();
  if (request_.dropped_headers != 0) worker_.count_dropped_headers(request_.dropped_headers);
  phase_ = Phase::Dispatching;
  // Body bytes that came with the head are checked before any server sees the request: a bad
  // chunk there is a 400, not a half-forwarded request.
  pump_request_body();
  if (phase_ != Phase::Dispatching) return;
  // The client has closed its side, and this request's body is not all here: it never will be,
  // so no server is bothered with it.
  if (owner_->client_eof() && !request_complete_) {
    respond_error(400, state::Outcome::ClientAbort);
    return;
  }
  // A browser navigation gets the maintenance page as soon as a backend the page depends on is
  // gone (the page is useless without its API); the health URLs it polls are always answered by
  // their own backend.
  if (const auto* accept = request_.find(http::HeaderKind::Accept)) {
    wants_html_ = fallback::accepts_html(accept->value.view(base));
  }
  NavigationFacts facts;
  facts.method = request_.method;
  facts.wants_html = wants_html_;
  facts.poll_path = wants_html_ && snapshot_->maintenance.is_poll_path(routing::origin_path(target_text));
  const auto& frontend = snapshot_->config->frontends[frontend_index_];
  if (frontend.redirect_https) {
    respond_redirect_to_https();
    return;
  }
  if (!frontend.status_path.empty()) {
    const std::string_view path = routing::origin_path(target_text);
    if (path.substr(0, path.find('?')) == frontend.status_path) {
      respond_status();
      return;
    }
  }
  // The health URLs the maintenance page polls are never answered from a copy: a copy's 200 would
  // tell the page the service is back while it is not.
  if (backend_->stale != nullptr &&
      stale_request_verdict(request_, base, backend_->config.stale_if_error.paths, false) == StaleRequest::Eligible &&
      !snapshot_->maintenance.is_poll_path(routing::origin_path(target_text))) {
    stale_candidate_ = true;
    stale_key(stale_key_, request_, base);
    // While this URL's servers fail, one request per probe interval goes to them; the rest get
    // the copy at once.
    const std::uint64_t now = worker_.loop().now_ms();
    if (backend_->stale->any_failing(now) && !backend_->stale->may_probe(stale_key_, now) &&
        respond_stale(false)) {
      return;
    }
  }
  if (navigation_needs_maintenance(facts, frontend.maintenance_requires_indexes,
                                   [this](std::size_t index) { return snapshot_->backends[index]->usable(); }) &&
      !required_backends_have_copies()) {
    respond_local(snapshot_->maintenance.html(frontend_index_, request_.method == http::Method::Head), 503, state::Outcome::Maintenance);
    return;
  }
  dispatch();
}

void Exchange::pump_request_body() {
  if (request_complete_) return;
  owner_->pull_request_body();
}

void Exchange::request_body_invalid() {
  // The head was valid but the body framing is not (a bad chunk): nothing more goes up.
  if (request_written_) {
    abort(state::Outcome::BadRequestBody);
  } else {
    respond_error(400, state::Outcome::BadRequestBody);
  }
}

void Exchange::on_request_body(const char* data, std::size_t length) {
  bytes_in_ += length;
  // Chunked requests are re-chunked: chunk extensions never reach the server.
  const bool chunked = request_.framing == http::BodyFraming::Chunked;
  queue_body(to_upstream_, data, length, chunked);
  if (replayable_) queue_body(replay_body_, data, length, chunked);
}

int Exchange::on_request_complete() {
  request_complete_ = true;
  if (request_.framing == http::BodyFraming::Chunked) {
    to_upstream_.add_external("0\r\n\r\n", 5);
    if (replayable_) replay_body_.add_external("0\r\n\r\n", 5);
  }
  // Stop after this message: a pipelined request waits until this response is done.
  return request_.upgrade ? 0 : http::kSinkPause;
}

void Exchange::on_request_bytes() {
  // While dispatching, or while a write upstream is pending, bytes wait in the buffer.
  if (phase_ != Phase::Forwarding || upstream_ == nullptr || upstream_->stream().write_pending()) return;
  pump_request_body();
  if (phase_ == Phase::Forwarding) flush_to_upstream();
}

void Exchange::request_bytes_dropped() {
  if (target_copy_.empty()) target_copy_.assign(request_.target.view(owner_->request_base()));
  replayable_ = false;
  replay_body_.clear();
}

void Exchange::on_client_eof() {
  // The rest of the body can never come. A client that only half-closed is still reading, so it
  // is told so (400) unless its response has begun; the server's connection, holding a cut
  // request, is not reused. A client that half-closed after a complete request still gets its
  // response.
  if (!request_complete_) respond_error(400, state::Outcome::ClientAbort);
}

bool Exchange::awaiting_continue() const { return request_.expect_continue && bytes_in_ == 0 && !request_complete_; }

bool Exchange::upstream_write_pending() const { return upstream_ != nullptr && upstream_->stream().write_pending(); }

// ---------------------------------------------------------------------------------------------
// Choosing and reaching a server

bool Exchange::other_server_left() const {
  for (const auto& server : backend_->servers) {
    if (server.get() != server_ && server->serving() && !tried_.contains(server->index)) return true;
  }
  return false;
}

bool Exchange::untried_server_left() const {
  for (const auto& server : backend_->servers) {
    if (server->serving() && !tried_.contains(server->index)) return true;
  }
  return false;
}

void Exchange::dispatch() {
  const auto& servers = backend_->servers;
  // On the stack: config caps a backend at kMaxServersPerBackend servers.
  std::array<upstream::Candidate, config::kMaxServersPerBackend> candidates;
  const std::size_t count = std::min(servers.size(), candidates.size());
  const std::uint64_t now = worker_.loop().now_ms();
  for (std::size_t i = 0; i < count; ++i) {
    const auto& server = *servers[i];
    candidates[i] = {server.serving(), server.config.backup,
                     server.balancer_weight(now, static_cast<std::uint64_t>(backend_->config.slow_start.count())),
                     server.runtime.active.load(std::memory_order_relaxed)};
  }
  const auto chosen = upstream::choose_server(backend_->config.balance, backend_->config.all_backups,
                                              std::span(candidates.data(), count), tried_,
                                              backend_->runtime->balancer[worker_.id()]);
  if (!chosen) {
    respond_maintenance();
    return;
  }
  server_ = servers[*chosen].get();
  server_->runtime.active.fetch_add(1, std::memory_order_relaxed);
  counted_active_ = true;
  response_byte_seen_ = false;
  request_written_ = false;
  upstream_eof_ = false;
  connecting_ = false;

  upstream::Connection* connection =
      fresh_connection_only_ ? nullptr : worker_.connections().take(*server_, backend_->tls);
  const bool pooled = connection != nullptr;
  if (!pooled) connection = worker_.connections().create(*server_, backend_->tls);
  upstream_ = connection;
  connection->stream().set_handler(*this);
  connection->timer().set_callback(&Exchange::on_upstream_timer, this);
  if (pooled) {
    connected_ms_ = worker_.loop().now_ms();
    on_upstream_ready();
    return;
  }
  connecting_ = true;
  const int rc = connection->stream().connect(server_->address.get());
  if (rc != 0) {
    connecting_ = false;
    upstream_failed(UpstreamFailure::ConnectFailed, rc);
    return;
  }
  connection->timer().set(backend_->config.timeouts.connect);
}

void Exchange::on_connect_done(int status) {
  connecting_ = false;
  upstream_->timer().clear();
  if (status == net::Stream::kTlsFailed) {
    upstream_failed(UpstreamFailure::TlsFailed, status);
    return;
  }
  if (status != 0) {
    upstream_failed(UpstreamFailure::ConnectFailed, status);
    return;
  }
  upstream_->stream().set_nodelay();
  connected_ms_ = worker_.loop().now_ms();
  if (const tls::TlsStream* tls = upstream_->tls()) {
    auto& counters = (*server_->runtime.traffic)[worker_.id()];
    (tls->handshake_result() == tls::HandshakeResult::Resumed ? counters.tls_resumed : counters.tls_full).add();
  }
  on_upstream_ready();
}

void Exchange::on_upstream_ready() {
  phase_ = Phase::Forwarding;
  const ClientAddress& client = owner_->client_address();
  http::RequestRewrite rewrite;
  rewrite.client_ip = client.ip;
  rewrite.proto = owner_->secure() ? "https" : "http";
  rewrite.fallback_host = server_->config.address.text;
  to_upstream_.head().clear();
  write_request_head(to_upstream_.head(), request_, owner_->request_base(), rewrite);

  http::ParseLimits limits;
  limits.max_head_bytes = backend_->config.max_response_header_bytes;
  limits.max_headers = backend_->config.max_response_headers;
  reader_.begin(limits, request_.method == http::Method::Head);
  if (upstream_->stream().read_start() != 0) {
    upstream_failed(UpstreamFailure::ClosedEarly, 0);
    return;
  }
  upstream_->timer().set(response_wait());
  pump_request_body();
  // Body bytes that arrived while connecting may have been refused (400): the exchange is over.
  if (phase_ != Phase::Forwarding) return;
  flush_to_upstream();
}

void Exchange::flush_to_upstream() {
  if (phase_ != Phase::Forwarding || upstream_ == nullptr) return;
  if (to_upstream_.empty()) {
    after_upstream_write();
    return;
  }
  // From here the server may have seen part of the request (a replay must then be idempotent).
  request_written_ = true;
  switch (upstream_->stream().write(to_upstream_.slices())) {
    case net::WriteOutcome::Done:
      after_upstream_write();
      return;
    case net::WriteOutcome::Pending:
      // Client bytes keep arriving into the buffer (it does not move) until it is full.
      return;
    case net::WriteOutcome::Failed:
      upstream_failed(UpstreamFailure::WriteFailed, upstream_->stream().last_error());
      return;
  }
}

void Exchange::on_write_done(int status) {
  if (phase_ == Phase::Done) return;
  if (status != 0) {
    upstream_failed(UpstreamFailure::WriteFailed, status);
    return;
  }
  after_upstream_write();
}

void Exchange::after_upstream_write() {
  const bool wrote = !to_upstream_.empty();
  to_upstream_.clear();
  // The server is taking the request: that is progress, not a server gone silent.
  if (wrote && !response_byte_seen_ && upstream_ != nullptr) upstream_->timer().set(response_wait());
  // Pipelined bytes behind a complete request wait in the buffer.
  if (request_complete_ || response_complete_) return;
  owner_->request_body_wanted();
}

// ---------------------------------------------------------------------------------------------
// Response side

char* Exchange::on_alloc(std::size_t& capacity) {
  char* at = reader_.alloc(worker_.buffers(), capacity, false);
  if (at == nullptr) {
    capacity = 0;  // libuv reports UV_ENOBUFS and the connection fails
    return upstream_discard;
  }
  return at;
}

void Exchange::on_read(std::size_t length) {
  if (phase_ == Phase::Done) return;
  reader_.received(length);
  if (!response_byte_seen_) {
    response_byte_seen_ = true;
    first_response_ms_ = worker_.loop().now_ms();
  }
  short_leash_ = false;
  upstream_->timer().set(backend_->config.timeouts.server);
  parse_response();
}

void Exchange::parse_response() {
  switch (reader_.parse()) {
    case upstream::ResponseStep::NeedMore:
      break;
    case upstream::ResponseStep::Complete:
      // Anything after the response is a server talking out of turn.
      if (reader_.unread_bytes()) upstream_reusable_ = false;
      break;
    case upstream::ResponseStep::Upgrade:
      if (!upgrade_response_) {
        upstream_failed(UpstreamFailure::BadResponse, 0);
        return;
      }
      break;
    case upstream::ResponseStep::Invalid:
      upstream_failed(UpstreamFailure::BadResponse, 0);
      return;
  }
  flush_to_client();
}

int Exchange::on_head(http::MessageHead& head) {
  const char* base = reader_.base();
  std::string& arena = to_client_.arena();
  const std::size_t start = arena.size();
  const bool client_http10 = request_.is_http10();
  if (head.status == 101) {
    if (!request_.upgrade) return -1;  // switching protocols nobody asked for
    upgrade_response_ = true;
    status_ = 101;
    http::write_response_head(arena, head, base, plan_, client_http10);
  } else if (head.status / 100 == 1) {
    // The client sends its body now: the time it waited for this was the server's.
    if (head.status == 100) owner_->restart_body_rate_window();
    // Interim responses (100 Continue, 103 Early Hints) go to HTTP/1.1 clients only.
    if (client_http10) return 0;
    http::write_response_head(arena, head, base, plan_, client_http10);
  } else {
    // A real answer: the server is reachable, whatever traffic said before.
    state::ServerRuntime& runtime = server_->runtime;
    if (runtime.passive_failures.load(std::memory_order_relaxed) != 0) {
      runtime.passive_failures.store(0, std::memory_order_relaxed);
    }
    if (runtime.unreachable.load(std::memory_order_relaxed)) {
      runtime.unreachable.store(false, std::memory_order_relaxed);
      upstream::refresh_status(*backend_);
    }
    if (stale_candidate_) {
      if (head.status >= 500) {
        // The server failed this URL: its last-good copy goes out instead of the error (the
        // connection is dropped unread, as after any bad answer).
        note_url_failed();
        serving_copy_ = find_copy();
        if (serving_copy_ != nullptr) {
          stale_instead_ = true;
          replaced_status_ = head.status;
          return -1;
        }
      } else if (backend_->stale->any_failing(worker_.loop().now_ms())) {
        backend_->stale->succeeded(stale_key_);
      }
      if (head.status == 200 && replayable_) start_capture(head, base);
    }
    const bool client_keep_alive = request_.keep_alive && !request_.upgrade && !worker_.draining();
    plan_ = http::plan_response(head, client_http10, client_keep_alive);
    if (!plan_.relayable) return -1;  // codings an HTTP/1.0 client cannot be sent
    // A server whose final answer comes before it has the whole request may never read the rest
    // (an interim 100 Continue is the opposite: it asks for it).
    response_before_request_end_ = !request_complete_ || !to_upstream_.empty() || upstream_->stream().write_pending();
    status_ = head.status;
    upstream_reusable_ = head.keep_alive;
    http::write_response_head(arena, head, base, plan_, client_http10);
    add_hsts(arena, head, base);
  }
  to_client_.add_arena_since(start);
  return 0;
}

// On TLS frontends with hsts set, a response without its own Strict-Transport-Security gets the
// frontend's (the server's own value wins: it knows its subdomains).
void Exchange::add_hsts(std::string& arena, const http::MessageHead& head, const char* base) const {
  const auto& hsts = snapshot_->config->frontends[frontend_index_].hsts;
  if (hsts.empty() || !owner_->secure() || head.find_named("strict-transport-security", base) != nullptr) return;
  // The head ends with an empty line: the field goes in before it (no temporary string).
  const std::size_t at = arena.size() - 2;
  arena.insert(at, "\r\n");
  arena.insert(at, hsts);
  arena.insert(at, "Strict-Transport-Security: ");
}

void Exchange::on_body(const char* data, std::size_t length) {
  queue_body(to_client_, data, length, plan_.framing == http::ClientFraming::Chunked);
  if (!capturing_) return;
  const std::uint64_t max_entry = backend_->config.stale_if_error.max_entry;
  const std::uint64_t needed = capture_body_.size() + length;
  if (needed > max_entry) {
    stop_capture();  // over max_entry: not kept
    return;
  }
  if (needed > capture_reserved_) {
    // Reserved in steps of 16 KiB at least: one atomic operation per step, not per read.
    const std::uint64_t grow =
        std::max<std::uint64_t>(needed - capture_reserved_, std::min<std::uint64_t>(16384, max_entry - capture_reserved_));
    if (!capture_store_->reserve_capture(grow)) {
      stop_capture();  // copies in progress already take all the store may hold
      return;
    }
    capture_reserved_ += grow;
  }
  capture_body_.append(data, length);
}

int Exchange::on_message_complete() {
  if (response_.status / 100 == 1 && response_.status != 101) return 0;  // the final response follows
  if (upgrade_response_) return 0;
  response_complete_ = true;
  if (capturing_) finish_capture();
  if (plan_.framing == http::ClientFraming::Chunked) to_client_.add_external("0\r\n\r\n", 5);
  if (response_.framing == http::BodyFraming::UntilClose) upstream_reusable_ = false;
  return http::kSinkPause;
}

void Exchange::on_read_end(int status) {
  if (phase_ == Phase::Done) return;
  upstream_eof_ = true;
  upstream_reusable_ = false;
  if (reader_.in_message() && reader_.head_complete() && response_.framing == http::BodyFraming::UntilClose &&
      status == net::Stream::kEof) {
    // The body of a response without length ends here.
    reader_.finish_at_close();
    flush_to_client();
    return;
  }
  if (response_complete_) return;
  upstream_failed(UpstreamFailure::ClosedEarly, status);
}

void Exchange::flush_to_client() {
  if (to_client_.empty()) {
    response_written();
    return;
  }
  response_started_ = true;
  bytes_out_ += to_client_.bytes();
  net::Stream& client = owner_->client();
  switch (client.write(to_client_.slices())) {
    case net::WriteOutcome::Done:
      response_written();
      return;
    case net::WriteOutcome::Pending:
      // Backpressure: the server waits while the client is slow.
      if (upstream_ != nullptr) upstream_->stream().read_stop();
      owner_->arm_client_timer(snapshot_->config->frontends[frontend_index_].timeouts.client);
      return;
    case net::WriteOutcome::Failed:
      abort(state::Outcome::ClientAbort);
      return;
  }
}

void Exchange::response_written() {
  to_client_.clear();
  if (upgrade_response_) {
    // The 101 is out: the connection is a tunnel from now on, and this exchange is over.
    record();
    upstream::Connection* connection = upstream_;
    upstream_ = nullptr;
    connection->timer().clear();
    set_done();
    owner_->become_tunnel(connection, reader_.take_buffer_for_tunnel());
    return;
  }
  if (response_complete_) {
    finish();
    return;
  }
  // Everything parsed went out: the buffer starts over, unless it holds an unfinished head.
  reader_.consumed();
  if (upstream_ != nullptr && !upstream_eof_) {
    if (response_started_) owner_->clear_client_timer();
    upstream_->stream().read_start();
  }
}

// ---------------------------------------------------------------------------------------------
// Endings

void Exchange::finish() {
  record();
  // A connection with part of the request still queued (the server answered early) is closed, not
  // pooled: those bytes point into buffers the connection is about to reuse. Nor is one whose
  // response ended before the request was all written: the server may never have read the rest,
  // which it would then take for the next request.
  // Nor is one holding bytes the response did not account for (a TLS record not yet read).
  const bool upstream_ok = upstream_reusable_ && request_complete_ && !upstream_eof_ && !response_before_request_end_ &&
                           upstream_ != nullptr && !upstream_->stream().write_pending() &&
                           !upstream_->stream().has_buffered_input();
  release_upstream(upstream_ok);
  reader_.release(worker_.buffers());
  const bool keep_alive = plan_.keep_client_alive && request_complete_;
  set_done();
  owner_->exchange_finished(keep_alive);
}

void Exchange::respond_error(int status, state::Outcome outcome) {
  if (response_started_) {
    abort(outcome);
    return;
  }
  const bool head_request = request_.method == http::Method::Head;
  const std::string_view response =
      head_request ? fallback::error_response_head_only(status) : fallback::error_response(status);
  status_ = status;
  outcome_ = outcome;
  bytes_out_ = response.size();
  release_upstream(false);
  record();
  set_done();
  owner_->send_final_response(response);
}

void Exchange::abort(state::Outcome outcome) {
  if (phase_ == Phase::Done) return;
  outcome_ = outcome;
  record();
  release_upstream(false);
  set_done();
  owner_->abort_connection();
}

void Exchange::detach() { release_upstream(false); }

void Exchange::end_tunnel(state::Outcome outcome) {
  // Counted when the 101 went out; a tunnel's end changes no counter.
  outcome_ = outcome;
}

void Exchange::respond_maintenance() {
  // Servers were tried and failed (or none is usable): the last-good copy, when there is one.
  if (respond_stale(server_ != nullptr)) return;
  const bool head_only = request_.method == http::Method::Head;
  respond_local(wants_html_ ? snapshot_->maintenance.html(frontend_index_, head_only) : snapshot_->maintenance.json(backend_->index, head_only),
                503, state::Outcome::Maintenance);
}

// redirect_https: the same URL over https. The host comes from the request (the parser has
// checked it), without its port; the target as the client sent it (validated, so it cannot break
// the header line).
void Exchange::respond_redirect_to_https() {
  const char* base = owner_->request_base();
  const auto& frontend = snapshot_->config->frontends[frontend_index_];
  std::string_view host = frontend.bind.host;
  if (const auto* field = request_.find(http::HeaderKind::Host)) host = field->value.view(base);
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);  // "[::1]:8080" -> "[::1]"
  } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  std::string_view target = request_.target.view(base);
  if (target.empty() || target.front() != '/') {
    // Absolute form ("http://host/path"): only its path goes into the new URL.
    const auto scheme_end = target.find("://");
    const auto path = scheme_end == std::string_view::npos ? std::string_view::npos : target.find('/', scheme_end + 3);
    target = path == std::string_view::npos ? std::string_view("/") : target.substr(path);
  }
  std::string& arena = to_client_.arena();
  const std::size_t start = arena.size();
  arena += "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://";
  if (host.find(':') != std::string_view::npos && host.front() != '[') {
    arena += '[';
    arena += host;
    arena += ']';
  } else {
    arena += host;
  }
  if (frontend.https_port != 443) {
    arena += ':';
    arena += std::to_string(frontend.https_port);
  }
  arena += target;
  arena += "\r\nContent-Length: 0\r\n";
  if (!request_.keep_alive) arena += "Connection: close\r\n";
  arena += "\r\n";
  begin_own_answer(308, state::Outcome::Ok);
  to_client_.add_arena_since(start);
  send_own_answer();
}

void Exchange::respond_status() {
  // haven answers itself: no backend's counters or access-log field claim the request.
  backend_ = nullptr;
  const bool head_only = request_.method == http::Method::Head;
  if (request_.method != http::Method::Get && !head_only) {
    respond_error(405, state::Outcome::BadRequest);
    return;
  }
  const char* base = owner_->request_base();
  WorkerStatusFeed& feed = worker_.status_feed();
  const auto* accept = request_.find(http::HeaderKind::Accept);
  const bool wants_stream = !head_only && accept != nullptr &&
                            accept->value.view(base).find("text/event-stream") != std::string_view::npos;
  if (wants_stream && request_complete_ && !request_.upgrade) {
    // Over the limit, a 503: the page falls back to polling the JSON.
    if (!feed.has_room(snapshot_->config->global.max_status_subscribers)) {
      respond_error(503, state::Outcome::LocalResources);
      return;
    }
    status_ = 200;
    outcome_ = state::Outcome::Ok;
    release_upstream(false);
    record();
    set_done();
    owner_->become_status_subscriber();
    return;
  }
  const fallback::StatusFeedAnswer& answer = feed.answer(*worker_.snapshot(), *snapshot_, frontend_index_);
  const auto* if_none_match = request_.find(http::HeaderKind::IfNoneMatch);
  const bool current = if_none_match != nullptr && fallback::etag_matches(if_none_match->value.view(base), answer.etag());
  // A copy: the cached answer is replaced when a backend changes mode, maybe before this write
  // is done.
  respond_local(current ? answer.not_modified() : answer.response(head_only), current ? 304 : 200, state::Outcome::Ok,
                true);
}

void Exchange::note_url_failed() {
  const bool first = !backend_->stale->any_failing(worker_.loop().now_ms());
  backend_->stale->failed(stale_key_, worker_.loop().now_ms());
  // The first failing URL: the feed shows the backend as served from copies.
  if (first) upstream::refresh_status(*backend_);
}

std::shared_ptr<const state::StaleCopy> Exchange::find_copy() {
  // The request head must still be there to compare its Vary fields.
  if (!stale_candidate_ || !replayable_) return nullptr;
  const char* base = owner_->request_base();
  return backend_->stale->find(
      stale_key_, [&](std::string_view name) { return request_field(request_, base, name); },
      worker_.loop().now_ms());
}

bool Exchange::respond_stale(bool servers_failed) {
  if (!stale_candidate_) return false;
  if (servers_failed) note_url_failed();
  if (serving_copy_ == nullptr) serving_copy_ = find_copy();
  if (serving_copy_ == nullptr) return false;
  const state::StaleCopy& copy = *serving_copy_;
  begin_own_answer(200, state::Outcome::Stale);
  to_client_.clear();
  std::string& arena = to_client_.arena();
  const std::size_t start = arena.size();
  arena += copy.head;
  const std::int64_t age_ms = std::max<std::int64_t>(0, state::wall_clock_ms() - copy.stored_wall_ms);
  arena += "Age: ";
  arena += std::to_string(age_ms / 1000);
  arena += "\r\nX-Haven-Stale: 1\r\n";
  const std::string& hsts = snapshot_->config->frontends[frontend_index_].hsts;
  if (!hsts.empty() && owner_->secure() && !copy.has_hsts) {
    arena += "Strict-Transport-Security: ";
    arena += hsts;
    arena += "\r\n";
  }
  if (!request_.keep_alive) arena += "Connection: close\r\n";
  arena += "\r\n";
  to_client_.add_arena_since(start);
  if (request_.method != http::Method::Head) to_client_.add_external(copy.body.data(), copy.body.size());
  send_own_answer();
  return true;
}

bool Exchange::required_backends_have_copies() const {
  const auto& required = snapshot_->config->frontends[frontend_index_].maintenance_requires_indexes;
  const std::uint64_t now = worker_.loop().now_ms();
  for (const std::size_t index : required) {
    const upstream::Backend& backend = *snapshot_->backends[index];
    if (backend.usable()) continue;
    if (backend.stale == nullptr || !backend.stale->has_fresh(now)) return false;
  }
  return true;
}

// The answer streams to the client as usual; a copy of it is made on the way, kept once whole.
void Exchange::start_capture(const http::MessageHead& head, const char* base) {
  // Kept for GET only; the rest of the request's eligibility was settled with stale_candidate_.
  if (request_.method != http::Method::Get) return;
  const std::uint64_t now = worker_.loop().now_ms();
  // The hot path: a URL without Vary that this worker looked at less than a second ago costs a
  // hash and nothing else.
  const std::size_t key_hash = std::hash<std::string_view>{}(stale_key_);
  bool varies = false;
  if (worker_.copied_recently(key_hash, now, &varies) && !varies) return;
  const auto& settings = backend_->config.stale_if_error;
  const char* request_base = owner_->request_base();
  const bool cookie = !request_field(request_, request_base, "cookie").empty();
  if (stale_response_verdict(head, base, settings.max_entry, capture_vary_, cookie) != StaleResponse::Keep) {
    worker_.note_copied(key_hash, now, false);
    return;
  }
  if (!capture_vary_.empty()) {
    // One copy per variant: the variant's own hash says whether it was looked at.
    std::size_t variant_hash = key_hash;
    for (const auto& name : capture_vary_) {
      variant_hash = variant_hash * 31 + std::hash<std::string_view>{}(request_field(request_, request_base, name));
    }
    worker_.note_copied(key_hash, now, true);
    if (worker_.copied_recently(variant_hash, now)) return;
    worker_.note_copied(variant_hash, now, true);
  } else {
    worker_.note_copied(key_hash, now, false);
  }
  if (!backend_->stale->wants(
          stale_key_, capture_vary_, [&](std::string_view name) { return request_field(request_, request_base, name); },
          now)) {
    return;
  }
  // The length the server announced is reserved against max_total before a byte is copied (a
  // body of unknown length reserves as it grows).
  const std::uint64_t announced = head.framing == http::BodyFraming::ContentLength ? head.content_length : 0;
  if (announced != 0 && !backend_->stale->reserve_capture(announced)) return;
  capture_store_ = backend_->stale;
  capture_reserved_ = announced;
  capturing_ = true;
  capture_head_.assign("HTTP/1.1 200 OK\r\n");
  // The copy's own age is told by haven (Age), not by whatever cache was behind the server.
  http::write_end_to_end_fields(capture_head_, head, base, "age");
  capture_has_hsts_ = head.find_named("strict-transport-security", base) != nullptr;
  capture_body_.clear();
  capture_body_.reserve(announced);
}

void Exchange::stop_capture() {
  capturing_ = false;
  if (capture_store_ != nullptr) {
    capture_store_->release_capture(capture_reserved_);
    capture_store_.reset();
  }
  capture_reserved_ = 0;
  // An abandoned copy of a large answer keeps no memory in the pooled exchange.
  if (capture_body_.capacity() > 65536) std::string().swap(capture_body_);
  capture_body_.clear();
}

void Exchange::finish_capture() {
  if (!replayable_) {  // the request head (its Vary fields) is gone
    stop_capture();
    return;
  }
  auto copy = std::make_shared<state::StaleCopy>();
  copy->head = std::move(capture_head_);
  copy->head += "Content-Length: ";
  copy->head += std::to_string(capture_body_.size());
  copy->head += "\r\n";
  copy->body = std::move(capture_body_);
  copy->has_hsts = capture_has_hsts_;
  copy->stored_wall_ms = state::wall_clock_ms();
  copy->stored_ms = worker_.loop().now_ms();
  const char* base = owner_->request_base();
  for (const auto& name : capture_vary_) copy->vary_values.emplace_back(request_field(request_, base, name));
  backend_->stale->put(stale_key_, capture_vary_, std::move(copy));
  capture_head_.clear();
  stop_capture();
}

void Exchange::begin_own_answer(int status, state::Outcome outcome) {
  release_upstream(false);
  status_ = status;
  outcome_ = outcome;
  to_upstream_.clear();
}

void Exchange::send_own_answer() {
  response_complete_ = true;
  // The connection stays usable unless part of a request body was never read.
  plan_.keep_client_alive = request_.keep_alive && !request_.upgrade;
  phase_ = Phase::Forwarding;
  flush_to_client();
}

void Exchange::respond_local(std::string_view response, int status, state::Outcome outcome, bool copy) {
  begin_own_answer(status, outcome);
  to_client_.clear();
  std::string& arena = to_client_.arena();
  const std::size_t start = arena.size();
  const std::string& hsts = snapshot_->config->frontends[frontend_index_].hsts;
  if (!hsts.empty() && owner_->secure()) {
    // haven's own answers (the maintenance page) carry the frontend's HSTS too: its head is
    // copied with the field added, its body goes out from the pre-built text.
    const std::string_view body = http::append_head_with_field(arena, response, "Strict-Transport-Security", hsts);
    if (copy) {
      arena += body;
      to_client_.add_arena_since(start);
    } else {
      to_client_.add_arena_since(start);
      to_client_.add_external(body.data(), body.size());
    }
  } else if (copy) {
    arena += response;
    to_client_.add_arena_since(start);
  } else {
    to_client_.add_external(response.data(), response.size());
  }
  send_own_answer();
}

// The one place an exchange is accounted for: its outcome goes to the counters of its frontend,
// backend and server, and to the access log.
void Exchange::record() {
  if (recorded_) return;
  recorded_ = true;
  const std::uint64_t now = worker_.loop().now_ms();
  const std::size_t worker = worker_.id();
  const state::ExchangeRecord counted{outcome_, status_, bytes_in_, bytes_out_, now - started_ms_};
  state::count_exchange((*snapshot_->frontends[frontend_index_]->traffic)[worker], counted);
  if (backend_ != nullptr) state::count_exchange((*backend_->runtime->traffic)[worker], counted);
  if (server_ != nullptr) {
    // A 5xx the client never saw (its copy went out instead) is still the server's 5xx.
    state::ExchangeRecord for_server = counted;
    if (replaced_status_ != 0) for_server.status = replaced_status_;
    state::count_exchange((*server_->runtime.traffic)[worker], for_server);
  }

  auto& log = worker_.access_log();
  if (!log.enabled()) return;
  const ClientAddress& address = owner_->client_address();
  char client[64];
  const int client_length = std::snprintf(client, sizeof client, "%s:%u", address.ip.c_str(), address.port);
  log::AccessRecord entry;
  entry.client = {client, static_cast<std::size_t>(client_length > 0 ? client_length : 0)};
  entry.frontend = snapshot_->config->frontends[frontend_index_].name;
  entry.backend = backend_ != nullptr ? std::string_view(backend_->config.name) : std::string_view("-");
  entry.server = server_ != nullptr ? std::string_view(server_->config.name) : std::string_view("-");
  const bool have_head = request_.target.length > 0;
  entry.method = have_head ? http::method_name(request_.method) : "-";
  entry.target = have_head ? target() : std::string_view("-");
  entry.version_minor = request_.version_minor;
  entry.status = status_;
  entry.bytes_in = bytes_in_;
  entry.bytes_out = bytes_out_;
  const auto since_start = [&](std::uint64_t at) -> std::int64_t {
    return at == 0 ? -1 : static_cast<std::int64_t>(at - started_ms_);
  };
  entry.head_ms = since_start(head_ms_);
  // Waiting for a server connection: from the parsed head to a connection ready for it.
  entry.connect_ms = connected_ms_ == 0 || head_ms_ == 0 ? -1 : static_cast<std::int64_t>(connected_ms_ - head_ms_);
  entry.response_ms = first_response_ms_ == 0 || connected_ms_ == 0
                          ? -1
                          : static_cast<std::int64_t>(first_response_ms_ - connected_ms_);
  entry.total_ms = static_cast<std::int64_t>(now - started_ms_);
  entry.retries = retries_;
  entry.termination = state::outcome_name(outcome_);
  log.record(entry);
}

// ---------------------------------------------------------------------------------------------
// Failures and retries

void Exchange::note_traffic_failure(const char* reason, bool conclusive) {
  if (server_ == nullptr) return;
  (*server_->runtime.traffic)[worker_.id()].passive_failures.add();
  if (!backend_->config.check) return;  // only checked servers come back
  upstream::Server& server = *server_;
  const int failures = server.runtime.passive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (!conclusive && failures < backend_->config.check->fall) return;
  // Out of rotation on every worker at once, before the checker's DOWN line: no request goes to it
  // in between. The worker that takes it out reports it; the checker clears the mark when it acts.
  if (server.runtime.unreachable.exchange(true, std::memory_order_relaxed)) return;
  upstream::refresh_status(*backend_);
  if (worker_.checker() == nullptr) return;
  worker_.checker()->report_traffic_failure(
      server.runtime_entry, conclusive ? std::string(reason)
                                       : std::string(reason) + ", " + std::to_string(failures) +
                                             (failures == 1 ? " consecutive failure" : " consecutive failures"));
}

// Every server of the backend failed to connect for this request, and the client gets the
// maintenance answer: the backend is unusable from now on, for navigations too, until a check
// or a response proves a server usable again.
void Exchange::mark_tried_servers_unreachable() {
  if (!backend_->config.check) return;  // nothing would ever bring them back
  for (const auto& server : backend_->servers) {
    if (tried_.contains(server->index)) server->runtime.unreachable.store(true, std::memory_order_relaxed);
  }
  upstream::refresh_status(*backend_);
}

// How long the current server may stay silent: the server timeout, or, for an idempotent request
// to a server whose last check failed, only as long as that check waited (then it goes elsewhere).
core::Duration Exchange::response_wait() {
  const auto& config = backend_->config;
  short_leash_ = config.check && server_->runtime.failing_check.load(std::memory_order_relaxed) && !response_byte_seen_ &&
                 is_idempotent(request_.method) && config.check->timeout < config.timeouts.server;
  return short_leash_ ? config.check->timeout : config.timeouts.server;
}

void Exchange::on_server_trouble() {
  if (phase_ != Phase::Forwarding) return;
  if (server_ == nullptr || upstream_ == nullptr || response_byte_seen_ || response_started_ || !request_complete_ ||
      !is_idempotent(request_.method)) {
    return;
  }
  if (server_->healthy()) {
    // Only a failed check, so far: a request that has waited at least as long as the check did
    // is most likely stuck on the same silent server.
    const auto& check = backend_->config.check;
    if (!check || !server_->runtime.failing_check.load(std::memory_order_relaxed)) return;
    const auto waited = static_cast<std::int64_t>(worker_.loop().now_ms() - connected_ms_);
    if (connected_ms_ == 0 || waited < check->timeout.count()) return;
    // With nowhere else to go, a new connection to the same silent server would only add load.
    if (!other_server_left()) return;
  }
  try_retry(UpstreamFailure::ServerDown);
}

void Exchange::upstream_failed(UpstreamFailure failure, int status) {
  if (stale_instead_) {
    // The 5xx was dropped for the copy (found when it arrived).
    if (!respond_stale(false)) respond_error(502, state::Outcome::BadResponse);
    return;
  }
  if (net::Stream::is_local_resource_error(status) && !response_started_) {
    // Out of descriptors here says nothing about the server: no passive failure, no retry storm.
    respond_error(503, state::Outcome::LocalResources);
    return;
  }
  if (response_started_) {
    // Part of a response reached the client: it must see a broken connection, never a response
    // that looks complete.
    abort(failure == UpstreamFailure::Timeout ? state::Outcome::ServerTimeout : state::Outcome::ServerAbort);
    return;
  }
  switch (failure) {
    case UpstreamFailure::ConnectFailed:
      if (status == net::Stream::kRefused) {
        note_traffic_failure("connection refused", backend_->config.refused_marks_down);
      } else {
        note_traffic_failure("connection failed");
      }
      break;
    case UpstreamFailure::ConnectTimeout:
      note_traffic_failure("connect timeout");
      break;
    case UpstreamFailure::TlsFailed:
      (*server_->runtime.traffic)[worker_.id()].tls_failures.add();
      note_traffic_failure(("TLS: " + upstream_->tls_failure()).c_str());
      break;
    case UpstreamFailure::Timeout:
      note_traffic_failure("response timeout");
      break;
    case UpstreamFailure::ClosedEarly:
      // A pooled connection the server had closed says nothing about the server's health.
      if (upstream_ == nullptr || !upstream_->reused()) note_traffic_failure("connection closed before a response");
      break;
    default:
      break;
  }
  if (try_retry(failure)) return;
  // Every server this request could go to failed it: the last-good copy, when there is one.
  if (failure != UpstreamFailure::ConnectFailed && failure != UpstreamFailure::ConnectTimeout &&
      failure != UpstreamFailure::ServerDown && respond_stale(true)) {
    return;
  }
  switch (failure) {
    case UpstreamFailure::Timeout:
      respond_error(504, state::Outcome::ServerTimeout);
      return;
    case UpstreamFailure::ConnectFailed:
    case UpstreamFailure::ConnectTimeout:
      // With no server left to try, the client gets the maintenance answer, which says when to
      // come back; a 502 would say something is broken that retrying elsewhere could avoid.
      tried_.add(server_->index);
      if (!untried_server_left()) {
        mark_tried_servers_unreachable();
        respond_maintenance();
      } else {
        respond_error(502, state::Outcome::ConnectFailed);
      }
      return;
    case UpstreamFailure::ServerDown:
      return;  // not retried: it keeps waiting on its server
    case UpstreamFailure::BadResponse:
      respond_error(502, state::Outcome::BadResponse);
      return;
    case UpstreamFailure::TlsFailed:
      // Not the maintenance page: the server is there but cannot be trusted, which an operator
      // must fix; the access log says server_tls and the event log why.
      respond_error(502, state::Outcome::ServerTls);
      return;
    case UpstreamFailure::ClosedEarly:
    case UpstreamFailure::WriteFailed:
      respond_error(502, state::Outcome::ServerClosed);
      return;
  }
}

bool Exchange::try_retry(UpstreamFailure failure) {
  RetryFacts facts;
  facts.failure = failure;
  facts.method = request_.method;
  facts.request_written = request_written_;
  facts.response_byte_seen = response_byte_seen_;
  facts.replayable = replayable_;
  facts.upgrade = upgrade_response_;
  facts.pooled_connection = upstream_ != nullptr && upstream_->reused();
  facts.fresh_connection_tried = fresh_connection_only_;
  facts.retries_done = retries_;
  facts.retries_allowed = backend_->config.retries;
  const RetryDecision decision = decide_retry(facts);
  if (decision == RetryDecision::No) return false;
  auto& server_counters = (*server_->runtime.traffic)[worker_.id()];
  auto& backend_counters = (*backend_->runtime->traffic)[worker_.id()];
  server_counters.retries.add();
  backend_counters.retries.add();
  if (decision == RetryDecision::FreshConnection) {
    fresh_connection_only_ = true;
  } else {
    ++retries_;
    tried_.add(server_->index);
    server_counters.redispatches.add();
    backend_counters.redispatches.add();
  }
  release_upstream(false);
  reader_.release(worker_.buffers());
  to_client_.clear();
  // The body sent so far goes again, as it was sent; the rest follows as it arrives.
  to_upstream_ = replay_body_;
  phase_ = Phase::Dispatching;
  dispatch();
  return true;
}

void Exchange::release_upstream(bool reusable) {
  if (counted_active_) {
    server_->runtime.active.fetch_sub(1, std::memory_order_relaxed);
    counted_active_ = false;
  }
  upstream::Connection* connection = upstream_;
  upstream_ = nullptr;
  if (connection == nullptr) return;
  connection->timer().clear();
  // A server being drained (or in maintenance) finishes what it has; its connections are not kept.
  if (reusable && server_->runtime.admin_state() == state::AdminState::Ready && !server_->runtime.retired()) {
    connection->mark_reused();
    worker_.connections().put(connection, backend_->config.timeouts.keep_alive);
  } else {
    connection->close();
  }
}

void Exchange::on_upstream_timer(void* self) noexcept {
  auto& ex = *static_cast<Exchange*>(self);
  if (ex.phase_ == Phase::Done) return;
  if (ex.connecting_) {
    ex.connecting_ = false;
    ex.upstream_failed(UpstreamFailure::ConnectTimeout, net::Stream::kTimedOut);
    return;
  }
  if (ex.short_leash_) {
    // Its server's last check failed and it has been silent as long as a check may wait: the
    // request goes elsewhere; if nowhere else will take it, it keeps waiting for the real timeout.
    ex.short_leash_ = false;
    if (!ex.response_byte_seen_ && ex.request_complete_ && ex.other_server_left() &&
        ex.try_retry(UpstreamFailure::ServerDown)) {
      return;
    }
    if (ex.upstream_ != nullptr) {
      const auto& config = ex.backend_->config;
      ex.upstream_->timer().set(config.timeouts.server - std::min(config.timeouts.server, config.check->timeout));
    }
    return;
  }
  // A slow client holding up the response, or a request body the client has stopped sending
  // (everything it sent has been written up), is the client timeout's business, not the
  // server's: the server is waiting too, and blaming it would let any client take it DOWN.
  const bool waiting_on_client =
      ex.owner_->client().write_pending() || (!ex.request_complete_ && !ex.response_byte_seen_ &&
                                              !ex.awaiting_continue() && ex.upstream_ != nullptr &&
                                              !ex.upstream_->stream().write_pending());
  if (waiting_on_client && ex.upstream_ != nullptr) {
    ex.upstream_->timer().set(ex.backend_->config.timeouts.server);
    return;
  }
  ex.upstream_failed(UpstreamFailure::Timeout, net::Stream::kTimedOut);
}

void Exchange::on_client_timeout() {
  // Only waiting on the client counts: its request body, or its reading of the response. Waiting
  // on the server (a body stuck behind a server that does not read it, or held back until the
  // server says 100 Continue) is the server timeout's business.
  if (upstream_write_pending() || awaiting_continue()) return;
  if (!request_complete_) {
    if (response_started_) {
      abort(state::Outcome::ClientTimeout);
    } else {
      respond_error(408, state::Outcome::ClientTimeout);
    }
  } else if (owner_->client().write_pending()) {
    abort(state::Outcome::ClientTimeout);
  }
}

}  // namespace haven::proxy
