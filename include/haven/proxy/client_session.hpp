#pragma once
// One client connection and the requests on it: parse strictly, route, pick a server, forward
// head and body with backpressure, relay the response, keep both sides alive when possible,
// retry what is safe to retry, and map every failure to exactly one outcome.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "haven/http/head_writer.hpp"
#include "haven/http/message_parser.hpp"
#include "haven/net/tcp_stream.hpp"
#include "haven/net/deadline.hpp"
#include "haven/proxy/client_table.hpp"
#include "haven/net/buffer_pool.hpp"
#include "haven/proxy/retry_policy.hpp"
#include "haven/proxy/snapshot.hpp"

namespace haven::proxy {

class Worker;
struct Exchange;

class ClientSession final : private net::StreamHandler, private net::HandleOwner {
 public:
  ClientSession(Worker& worker, std::shared_ptr<const Snapshot> snapshot, std::size_t frontend_index);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // Takes the accepted socket from `peer`. On failure the session closes itself.
  void start(int fd, const sockaddr* peer);
  // Shutdown: a session between requests closes now; one in a request closes after it.
  void close_if_idle();
  // The worker switched to a reload's snapshot: an idle connection follows it, or closes when its
  // frontend is gone.
  void on_reload();
  // The shutdown grace time is over.
  void abort_now();
  // A server went DOWN, or failed a check: an idempotent request waiting on it with no answer yet
  // (for a failed check: for at least the check's timeout) goes elsewhere.
  void on_server_trouble();

 private:
  friend class Worker;
  enum class State : std::uint8_t {
    ReadingHead,   // waiting for (the rest of) a request head
    Dispatching,   // head parsed, finding and connecting a server
    Forwarding,    // request going up, response coming down
    Tunnel,        // upgraded: bytes both ways
    Lingering,     // an error response or the last response was sent: draining, then closing
    Closed,
  };

  struct UpstreamEvents;
  struct RequestEvents;
  struct ResponseEvents;

  // Client stream events.
  char* on_alloc(std::size_t& capacity) override;
  void on_read(std::size_t length) override;
  void on_read_end(int status) override;
  void on_write_done(int status) override;
  void on_connect_done(int /*status*/) override {}
  void on_handle_closed() override;

  // Upstream stream events (through UpstreamEvents).
  char* on_upstream_alloc(std::size_t& capacity);
  void on_upstream_read(std::size_t length);
  void on_upstream_read_end(int status);
  void on_upstream_write_done(int status);
  void on_upstream_connected(int status);

  // Parser events.
  http::MessageHead& on_request_begin();
  void on_request_body(const char* data, std::size_t length);
  int on_request_complete();
  int on_response_head(http::MessageHead& head);
  void on_response_body(const char* data, std::size_t length);
  int on_response_complete();

  // Steps of an exchange.
  void process_client_input();
  void on_request_head_parsed();
  void dispatch();
  void on_upstream_ready();
  void pump_request_body();
  void flush_to_upstream();
  void after_upstream_write();
  void parse_response();
  void flush_to_client();
  void after_client_write();
  void upstream_failed(UpstreamFailure failure, int uv_status);
  bool try_retry(UpstreamFailure failure);
  void finish_exchange();
  void next_request();
  void start_next_request();
  void start_tunnel();
  void pump_tunnel();

  // Endings.
  void respond_error(int status, state::Outcome outcome);
  // Answers with a pre-built response (maintenance) and keeps the connection when possible.
  void respond_local(std::string_view response, int status, state::Outcome outcome);
  void respond_maintenance(const upstream::Backend& backend);
  bool untried_server_left() const;
  // A usable server other than the current one that this request has not tried.
  bool other_server_left() const;
  core::Duration response_wait();
  // A failure of the current server seen by traffic. `conclusive` (a refused connection under
  // on_refused = "mark-down") takes it out at once; others after the check's `fall` in a row.
  void note_traffic_failure(const char* reason, bool conclusive = false);
  bool body_rate_holds(std::size_t length);
  // The request asked for 100 Continue and has sent no body byte yet: the wait is the server's.
  [[nodiscard]] bool awaiting_continue() const;
  void restart_body_rate_window();
  void mark_tried_servers_unreachable();
  void linger_close();
  void abort_exchange(state::Outcome outcome);
  void close_now(bool reset = false);
  void release_upstream(bool reusable);
  // Counts the exchange's outcome and writes its access-log line; once per exchange.
  void apply_frontend_limits();
  bool follow_reload();
  void record_exchange();
  void count_exchange(const Exchange& ex, std::uint64_t now);
  void make_room_in_client_buffer();
  void release_client_buffer_if_empty();
  void release_exchange();

  static void on_client_timer(void* self) noexcept;
  static void on_upstream_timer(void* self) noexcept;
  void arm_client_timer(core::Duration timeout);

  Worker& worker_;
  std::shared_ptr<const Snapshot> snapshot_;
  const config::Frontend* frontend_;  // in *snapshot_
  std::size_t frontend_index_;
  net::TcpStream client_;
  net::Deadline timer_;
  std::unique_ptr<RequestEvents> request_events_;
  http::MessageParser request_parser_;
  Exchange* exchange_ = nullptr;  // from the worker's pool while a request is in progress
  net::Buffer* in_ = nullptr;       // client bytes; a request head always starts at offset 0
  std::size_t parsed_ = 0;     // bytes of in_ given to the request parser
  std::string client_ip_;
  std::uint16_t client_port_ = 0;
  State state_ = State::ReadingHead;
  int open_handles_ = 2;
  std::uint64_t request_started_ms_ = 0;  // first byte of the current request (loop clock)
  bool request_started_ = false;  // a byte of the current request head has arrived
  bool client_eof_ = false;
  bool in_next_request_ = false;     // next_request() is on the stack
  bool next_request_again_ = false;  // ...and a request answered inside it asked for the next one

  std::uint64_t body_window_start_ms_ = 0;  // min_body_rate: the current averaging window
  std::uint64_t body_window_bytes_ = 0;
  std::optional<ClientKey> client_key_;  // counted against max_connections_per_client
  ClientSession* prev_ = nullptr;  // the worker's list
  ClientSession* next_ = nullptr;
};

}  // namespace haven::proxy
