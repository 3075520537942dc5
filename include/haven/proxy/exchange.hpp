#pragma once
// One request and its response: route, pick a server, forward the request (replaying it to
// another server when that is safe), relay the response, answer locally when no server can, and
// end in exactly one outcome. It knows nothing of how the request arrived: the connection that
// carries it (ExchangeOwner, HTTP/1 today) parses the request and delivers its head and body, and
// takes the response bytes. Pooled per worker (Worker::acquire_exchange).
#include <cstdint>
#include <string>
#include <string_view>

#include "haven/core/duration.hpp"
#include "haven/http/head_writer.hpp"
#include "haven/http/message_parser.hpp"
#include "haven/net/buffer_pool.hpp"
#include "haven/net/out_queue.hpp"
#include "haven/net/stream.hpp"
#include "haven/proxy/retry_policy.hpp"
#include "haven/proxy/snapshot.hpp"
#include "haven/state/outcome.hpp"
#include "haven/state/stale_store.hpp"
#include "haven/upstream/balancer.hpp"
#include "haven/upstream/connection.hpp"
#include "haven/upstream/response_reader.hpp"
#include "haven/upstream/server.hpp"

namespace haven::proxy {

class Worker;

// A head is parsed in one read buffer: the largest head a limit may allow must fit.
static_assert(net::Buffer::kCapacity > config::kMaxHeadBytes, "a read buffer must hold the largest head a limit allows");

// Where a request came from, for the access log and X-Forwarded-For.
struct ClientAddress {
  std::string ip;
  std::uint16_t port = 0;
};

// What an exchange needs from the connection its request arrived on. The calls that end the
// exchange (exchange_finished, send_final_response, abort_connection, become_tunnel) hand it back:
// the exchange touches nothing of itself after them.
class ExchangeOwner {
 public:
  // The bytes the request head's spans point into.
  [[nodiscard]] virtual const char* request_base() const = 0;
  // Runs the request codec over body bytes already received (Exchange::on_request_body and
  // on_request_complete follow; broken framing calls Exchange::request_body_invalid).
  virtual void pull_request_body() = 0;
  // Everything queued for the server is written: more body may come from the client.
  virtual void request_body_wanted() = 0;
  // The response goes out on this stream; its on_write_done reaches Exchange::response_written.
  virtual net::Stream& client() = 0;
  // The request came over TLS (X-Forwarded-Proto: https; HSTS applies).
  [[nodiscard]] virtual bool secure() const = 0;
  [[nodiscard]] virtual bool client_eof() const = 0;
  // The server asked for the body (100 Continue): the time the client waited was the server's.
  virtual void restart_body_rate_window() = 0;
  // The client's timer: what the client is given to read the response or send the body.
  virtual void arm_client_timer(core::Duration timeout) = 0;
  virtual void clear_client_timer() = 0;
  // The response went out whole; `keep_alive`: both sides allow the next request.
  virtual void exchange_finished(bool keep_alive) = 0;
  // `response` is the exchange's last word: sent, then the connection closes gently.
  virtual void send_final_response(std::string_view response) = 0;
  // Ends the connection at once with a reset: a response cut short must never look complete.
  virtual void abort_connection() = 0;
  // The server switched protocols: the connection becomes a tunnel to `upstream`. The exchange
  // stays with the owner (its queued writes may still be in flight) until the tunnel ends.
  virtual void become_tunnel(upstream::Connection* upstream, net::Buffer* server_bytes) = 0;
  [[nodiscard]] virtual const ClientAddress& client_address() const = 0;
  // The request asked for the status feed as an event stream, and got it: the connection streams
  // the feed from now on (its head is the owner's to write). The exchange is done.
  virtual void become_status_subscriber() = 0;

 protected:
  ~ExchangeOwner() = default;
};

class Exchange final : private http::MessageSink, private net::StreamHandler {
 public:
  explicit Exchange(Worker& worker);
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Ready for a new request of `owner`, whose connection is on `snapshot`'s frontend
  // `frontend_index` (the routes used are the ones in force when the head is complete).
  void begin(ExchangeOwner& owner, const Snapshot& snapshot, std::size_t frontend_index, std::uint64_t started_ms);
  // Strings and vectors keep their capacity (that is why exchanges are pooled); buffers go back.
  void end_use();

  // From the request codec.
  http::MessageHead& request() { return request_; }
  // The head is complete (the codec paused behind it): route and dispatch. `snapshot` is the one
  // the connection follows now.
  void on_request_head(const Snapshot& snapshot, std::size_t frontend_index);
  void on_request_body(const char* data, std::size_t length);
  // Returns what the codec's sink returns (pause after the message, or go on into an upgrade).
  int on_request_complete();
  void request_body_invalid();
  // New client bytes are buffered: they go up if the server connection can take them.
  void on_request_bytes();
  // The connection dropped body bytes that already went up to make room: the request can no
  // longer be replayed elsewhere.
  void request_bytes_dropped();
  // The client's end of the stream: the rest of the body will never come.
  void on_client_eof();
  // The owner's client write (of response bytes) finished.
  void response_written();
  // The client's timer fired while this exchange was in progress.
  void on_client_timeout();
  // Answers with a pre-built error (or breaks the connection if the response already began).
  void respond_error(int status, state::Outcome outcome);
  // Breaks the connection (with a reset) and ends the exchange in `outcome`.
  void abort(state::Outcome outcome);
  // A server went DOWN, or failed a check: an idempotent request waiting on it with no answer yet
  // (for a failed check: for at least the check's timeout) goes elsewhere.
  void on_server_trouble();
  // The connection is closing under the exchange: it gives its server connection up.
  void detach();
  // The tunnel that followed a 101 ended: its server connection closes, the outcome is kept.
  void end_tunnel(state::Outcome outcome);

  [[nodiscard]] bool forwarding() const { return phase_ == Phase::Forwarding; }
  [[nodiscard]] bool request_complete() const { return request_complete_; }
  [[nodiscard]] bool response_started() const { return response_started_; }
  // The request asked for 100 Continue and has sent no body byte yet: the wait is the server's.
  [[nodiscard]] bool awaiting_continue() const;
  // The server connection has request bytes queued it has not taken yet.
  [[nodiscard]] bool upstream_write_pending() const;
  // Done (answered, aborted or handed over): nothing more happens on this use of it.
  [[nodiscard]] bool done() const { return phase_ == Phase::Done; }

 private:
  enum class Phase : std::uint8_t { Receiving, Dispatching, Forwarding, Done };

  // Response parser events.
  http::MessageHead& on_message_begin() override { return response_; }
  int on_head(http::MessageHead& head) override;
  void on_body(const char* data, std::size_t length) override;
  int on_message_complete() override;

  // Server stream events.
  char* on_alloc(std::size_t& capacity) override;
  void on_read(std::size_t length) override;
  void on_read_end(int status) override;
  void on_write_done(int status) override;
  void on_connect_done(int status) override;
  static void on_upstream_timer(void* self) noexcept;

  void dispatch();
  void on_upstream_ready();
  void pump_request_body();
  void flush_to_upstream();
  void after_upstream_write();
  void parse_response();
  void flush_to_client();
  void finish();
  void upstream_failed(UpstreamFailure failure, int status);
  bool try_retry(UpstreamFailure failure);
  void release_upstream(bool reusable);
  // `copy`: the response text may change before the write is done (the status feed), so it is
  // copied; pre-built answers that live as long as the snapshot go out as they are.
  void respond_local(std::string_view response, int status, state::Outcome outcome, bool copy = false);
  // Every answer haven makes itself starts here (no server connection any more, one status and
  // outcome) and, once queued in to_client_, goes out through send_own_answer().
  void begin_own_answer(int status, state::Outcome outcome);
  void send_own_answer();
  void respond_maintenance();
  void respond_redirect_to_https();
  // The frontend's status feed: JSON (304 when the client's tag is current), or an event stream.
  void respond_status();
  // Last-good copies (stale_if_error). The request may be answered from a copy of its URL:
  // serves it (true) or finds none (false). Marks the URL failing first when `servers_failed`.
  bool respond_stale(bool servers_failed);
  // A navigation may skip the maintenance page when every required backend that is down has
  // fresh copies: the page can still show its data.
  [[nodiscard]] bool required_backends_have_copies() const;
  std::shared_ptr<const state::StaleCopy> find_copy();
  // This URL's servers failed it: single flight from now on (and the feed may show "stale").
  void note_url_failed();
  void start_capture(const http::MessageHead& head, const char* base);
  void finish_capture();
  // Ends a copy in progress (kept or not): its reservation goes back to the store.
  void stop_capture();
  void add_hsts(std::string& arena, const http::MessageHead& head, const char* base) const;
  [[nodiscard]] bool untried_server_left() const;
  // A usable server other than the current one that this request has not tried.
  [[nodiscard]] bool other_server_left() const;
  core::Duration response_wait();
  // A failure of the current server seen by traffic. `conclusive` (a refused connection under
  // on_refused = "mark-down") takes it out at once; others after the check's `fall` in a row.
  void note_traffic_failure(const char* reason, bool conclusive = false);
  void mark_tried_servers_unreachable();
  // Counts the outcome and writes the access-log line; once per exchange.
  void record();
  // Hands the exchange back; after this nothing of it is touched.
  void set_done() { phase_ = Phase::Done; }
  [[nodiscard]] std::string_view target() const;

  Worker& worker_;
  ExchangeOwner* owner_ = nullptr;
  const Snapshot* snapshot_ = nullptr;  // the owner holds it for as long as the exchange runs
  std::size_t frontend_index_ = 0;
  Phase phase_ = Phase::Receiving;

  http::MessageHead request_;
  http::MessageHead response_;
  upstream::ResponseReader reader_;
  net::OutQueue to_upstream_;
  net::OutQueue to_client_;
  // The request body as sent so far, while it can still go to another server: a retry sends it
  // again without parsing the request a second time.
  net::OutQueue replay_body_;
  std::string target_copy_;  // the target, once the client buffer no longer holds the head

  upstream::Backend* backend_ = nullptr;
  upstream::Server* server_ = nullptr;
  upstream::Connection* upstream_ = nullptr;
  http::ResponsePlan plan_;
  upstream::TriedSet tried_;
  state::Outcome outcome_ = state::Outcome::Ok;
  int retries_ = 0;
  int status_ = 0;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
  std::uint64_t started_ms_ = 0;
  std::uint64_t head_ms_ = 0;
  std::uint64_t connected_ms_ = 0;
  std::uint64_t first_response_ms_ = 0;
  bool connecting_ = false;
  bool request_complete_ = false;
  bool request_written_ = false;     // some request byte reached the current connection
  bool response_byte_seen_ = false;  // some byte arrived from the current connection
  bool response_started_ = false;    // some response byte was sent to the client
  bool response_complete_ = false;
  bool response_before_request_end_ = false;  // the server answered before it had the whole request
  bool upstream_reusable_ = false;
  bool replayable_ = true;  // every body byte so far is in replay_body_
  bool upgrade_response_ = false;
  bool fresh_connection_only_ = false;
  bool counted_active_ = false;
  bool wants_html_ = false;  // Accept lists text/html: errors come as pages
  bool upstream_eof_ = false;
  bool recorded_ = false;
  bool short_leash_ = false;  // waiting on a server whose last check failed: re-sent after the check timeout

  // stale_if_error.
  std::string stale_key_;                 // "host /target" of a request a copy may answer
  bool stale_candidate_ = false;          // the backend keeps copies and this request may use one
  bool stale_instead_ = false;            // the server answered 5xx: its copy goes out instead
  int replaced_status_ = 0;               // that 5xx, counted for the server all the same
  bool capturing_ = false;                // the answer is being copied as it streams
  std::string capture_head_;
  std::string capture_body_;
  std::shared_ptr<state::StaleStore> capture_store_;  // while capturing: what capture_reserved_ is counted in
  std::uint64_t capture_reserved_ = 0;
  bool capture_has_hsts_ = false;  // the server sent its own Strict-Transport-Security
  std::vector<std::string> capture_vary_;
  std::shared_ptr<const state::StaleCopy> serving_copy_;  // the copy being sent (kept alive until written)
};

}  // namespace haven::proxy
