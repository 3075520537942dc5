#pragma once
// One HTTP/1 client connection: its transport (plain TCP, or TLS on a frontend with a tls table)
// and the HTTP/1 server codec. It parses requests
// strictly, one at a time, and hands each to an Exchange; between requests it keeps the
// connection alive (pipelined requests wait in the buffer), and it closes gently after errors.
// After a 101 it carries the bytes of the new protocol both ways until either side closes.
#include <cstdint>
#include <memory>
#include <string>

#include "haven/http/message_parser.hpp"
#include "haven/net/buffer_pool.hpp"
#include "haven/net/deadline.hpp"
#include "haven/net/tcp_stream.hpp"
#include "haven/proxy/downstream_connection.hpp"
#include "haven/proxy/exchange.hpp"
#include "haven/proxy/worker_status_feed.hpp"
#include "haven/tls/tls_stream.hpp"

namespace haven::proxy {

class Http1Connection final : public DownstreamConnection,
                              private ExchangeOwner,
                              private StatusSubscriber,
                              private http::MessageSink,
                              private net::StreamHandler,
                              private net::HandleOwner {
 public:
  Http1Connection(Worker& worker, std::shared_ptr<const Snapshot> snapshot, std::size_t frontend_index);
  ~Http1Connection() override;

  void start(int fd, const sockaddr* peer) override;
  void drain() override;
  void on_reload() override;
  void abort_now() override;
  void on_server_trouble() override;

 private:
  enum class State : std::uint8_t {
    ReadingHead,  // waiting for (the rest of) a request head
    InExchange,   // the exchange_ has the request
    Tunnel,       // upgraded: bytes both ways
    Subscribed,   // streams the status feed (text/event-stream) until either side closes
    Lingering,    // an error response or the last response was sent: draining, then closing
    Closed,
  };
  struct TunnelEvents;

  // Client stream events.
  char* on_alloc(std::size_t& capacity) override;
  void on_read(std::size_t length) override;
  void on_read_end(int status) override;
  void on_write_done(int status) override;
  // Over TLS: the handshake finished (status 0).
  void on_connect_done(int status) override;
  void on_handle_closed() override;

  // Request parser events.
  http::MessageHead& on_message_begin() override;
  int on_head(http::MessageHead& /*head*/) override { return http::kSinkPause; }
  void on_body(const char* data, std::size_t length) override;
  int on_message_complete() override;

  // ExchangeOwner.
  [[nodiscard]] const char* request_base() const override { return in_->data; }
  void pull_request_body() override;
  void request_body_wanted() override;
  void restart_body_rate_window() override;
  net::Stream& client() override { return *stream_; }
  [[nodiscard]] bool secure() const override { return tls_ != nullptr; }
  [[nodiscard]] bool client_eof() const override { return client_eof_; }
  void arm_client_timer(core::Duration timeout) override { timer_.set(timeout); }
  void clear_client_timer() override { timer_.clear(); }
  void exchange_finished(bool keep_alive) override;
  void send_final_response(std::string_view response) override;
  void abort_connection() override { close_now(true); }
  void become_tunnel(upstream::Connection* upstream, net::Buffer* server_bytes) override;
  [[nodiscard]] const ClientAddress& client_address() const override { return address_; }
  void become_status_subscriber() override;

  // StatusSubscriber.
  void on_status_change() override;
  void on_status_heartbeat() override;
  // Writes `bytes` (copied) to the subscriber, or remembers that the state changed while a write
  // was still out.
  void send_to_subscriber(std::string_view bytes);

  // A TLS handshake that did not finish: failed, or (`timed_out`) too slow.
  void count_tls_failure(bool timed_out);
  void process_client_input();
  void on_request_head_parsed();
  // An error before or instead of a response: through the exchange, so it is counted and logged.
  void respond_error(int status, state::Outcome outcome);
  bool body_rate_holds(std::size_t length);
  void make_room_in_client_buffer();
  void next_request();
  void start_next_request();
  void release_client_buffer_if_empty();
  void release_exchange();
  void linger_close();
  void close_now(bool reset = false);
  void apply_frontend_limits();
  // Between requests: move to the configuration in force. False when the frontend is gone.
  bool follow_reload();

  // Tunnel (after a 101).
  char* on_tunnel_alloc(std::size_t& capacity);
  void on_tunnel_read(std::size_t length);
  void on_tunnel_read_end();
  void on_tunnel_write_done(int status);
  void pump_tunnel();
  void end_tunnel(state::Outcome outcome);
  static void on_tunnel_timer(void* self) noexcept;

  static void on_client_timer(void* self) noexcept;

  Worker& worker_;
  const config::Frontend* frontend_;  // in *snapshot_
  net::TcpStream tcp_;
  std::unique_ptr<tls::TlsStream> tls_;  // on TLS frontends
  net::Stream* stream_;                  // tls_ when there is one, else tcp_
  net::Deadline timer_;
  http::MessageParser request_parser_;
  Exchange* exchange_ = nullptr;  // from the worker's pool while a request is in progress
  net::Buffer* in_ = nullptr;     // client bytes; a request head always starts at offset 0
  std::size_t parsed_ = 0;        // bytes of in_ given to the request parser
  ClientAddress address_;
  std::string final_response_;  // an error answer with HSTS added (TLS frontends with hsts)
  State state_ = State::ReadingHead;
  int open_handles_ = 2;
  std::uint64_t request_started_ms_ = 0;  // first byte of the current request (loop clock)
  bool request_started_ = false;          // a byte of the current request head has arrived
  bool client_eof_ = false;
  bool in_next_request_ = false;     // next_request() is on the stack
  bool next_request_again_ = false;  // ...and a request answered inside it asked for the next one

  std::uint64_t body_window_start_ms_ = 0;  // min_body_rate: the current averaging window
  std::uint64_t body_window_bytes_ = 0;

  std::unique_ptr<TunnelEvents> tunnel_events_;  // only once upgraded
  upstream::Connection* tunnel_upstream_ = nullptr;
  net::Buffer* tunnel_server_bytes_ = nullptr;
  bool tunnel_write_pending_ = false;  // a queued server write carries tunnel bytes from in_
  bool tunnel_upstream_eof_ = false;

  // Status-feed subscription (state Subscribed).
  std::string subscriber_out_;          // the bytes of the write in flight
  std::uint64_t subscriber_sent_ = 0;   // hash of the last state sent (0: none yet)
  std::uint32_t subscriber_input_ = 0;  // bytes the client sent since it subscribed
  bool subscriber_writing_ = false;
  bool subscriber_stale_ = false;       // the state changed while a write was in flight
  bool subscriber_stalled_ = false;     // a write was in flight at the last heartbeat too
};

}  // namespace haven::proxy
