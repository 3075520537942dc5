#pragma once
// TLS over a TCP stream, as a net::Stream: what is above it reads and writes plaintext and never
// knows. OpenSSL runs over a custom BIO that reads the ciphertext haven received into a pooled
// buffer and appends what it writes to an out-queue this stream hands to TCP, so no OpenSSL call
// ever touches a socket. Server side: the handshake runs on the first reads, and on_connect_done(0)
// tells the handler it finished (a failure ends reading with Stream::kTlsFailed). Client side:
// connect() connects TCP, then handshakes, then reports on_connect_done.
//
// An idle connection holds no buffer: OpenSSL releases its record buffers
// (SSL_MODE_RELEASE_BUFFERS) and this stream returns its own once they are empty.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "haven/net/buffer_pool.hpp"
#include "haven/net/stream.hpp"
#include "haven/net/tcp_stream.hpp"
#include "haven/net/timer.hpp"

struct ssl_st;
struct bio_st;

namespace haven::tls {

class ServerContext;
class ClientContext;

enum class HandshakeResult : std::uint8_t { Full, Resumed };

class TlsStream final : public net::Stream, private net::StreamHandler, private net::HandleOwner {
 public:
  // Server side of an accepted connection. `tcp` must outlive this stream, which becomes its
  // handler. The stream keeps `context` alive (OpenSSL calls back into it).
  TlsStream(net::Loop& loop, net::TcpStream& tcp, net::BufferPool& buffers,
            std::shared_ptr<const ServerContext> context, net::StreamHandler& handler);
  // Client side: connect() starts TCP, then the handshake to `server_name` (SNI, and the name the
  // certificate is checked against when the context verifies).
  TlsStream(net::Loop& loop, net::TcpStream& tcp, net::BufferPool& buffers, std::shared_ptr<ClientContext> context,
            const std::string& server_name, net::StreamHandler& handler);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // net::Stream.
  void set_handler(net::StreamHandler& handler) override { handler_ = &handler; }
  int connect(const sockaddr* address) override;
  int read_start() override;
  void read_stop() override;
  [[nodiscard]] bool reading() const override { return reading_; }
  net::WriteOutcome write(std::span<const net::IoSlice> slices) override;
  [[nodiscard]] bool write_pending() const override { return user_write_pending_; }
  [[nodiscard]] int last_error() const override { return last_error_; }
  void shutdown() override;
  void close(net::HandleOwner* closed_owner, bool reset = false) override;
  [[nodiscard]] bool closing() const override { return closing_; }
  void set_nodelay() override { tcp_.set_nodelay(); }
  [[nodiscard]] bool has_buffered_input() const override;

  [[nodiscard]] bool handshake_done() const { return handshake_done_; }
  [[nodiscard]] HandshakeResult handshake_result() const { return resumed_ ? HandshakeResult::Resumed : HandshakeResult::Full; }
  // Why the TLS layer failed, in words ("" when it did not).
  [[nodiscard]] const std::string& failure() const { return failure_; }
  // The negotiated ALPN protocol ("" for none) and TLS version ("TLSv1.3").
  [[nodiscard]] std::string alpn() const;
  [[nodiscard]] const char* version() const;

 private:
  friend struct BioAccess;
  // TCP events.
  char* on_alloc(std::size_t& capacity) override;
  void on_read(std::size_t length) override;
  void on_read_end(int status) override;
  void on_write_done(int status) override;
  void on_connect_done(int status) override;
  void on_handle_closed() override;
  static void on_deferred(void* self) noexcept;

  void setup_ssl(void* ssl_ctx);
  // Runs the handshake, then hands plaintext to the handler while it reads.
  void process_input();
  bool continue_handshake();
  // `status`: what the handler is told (kTlsFailed for OpenSSL's own errors; a TCP or local
  // error passes through as it was, so it is never blamed on TLS).
  void fail(std::string reason, int status = kTlsFailed);
  // Ciphertext waiting to go out is over its cap: TCP reading pauses until it drains.
  [[nodiscard]] bool output_full() const;
  void resume_tcp_reading();
  // The handler's turn to learn the stream ended (once).
  void report_read_end(int status);
  // Hands queued ciphertext to TCP. False when TCP failed.
  bool flush();
  void schedule_processing();
  void release_input_if_empty();
  // Where OpenSSL's writes go; what it reads from.
  int bio_write(const char* data, int length);
  int bio_read(char* out, int length);

  net::TcpStream& tcp_;
  net::BufferPool& buffers_;
  net::StreamHandler* handler_;
  std::shared_ptr<const void> context_;  // the ServerContext or ClientContext OpenSSL calls back into
  net::Timer deferred_;  // resumes reading of bytes already buffered (after read_start)
  ssl_st* ssl_ = nullptr;
  bio_st* bio_ = nullptr;
  net::Buffer* input_ = nullptr;  // ciphertext received, from input_pos_ to input_->end unread
  std::size_t input_pos_ = 0;
  std::string output_;            // ciphertext OpenSSL wrote, not yet handed to TCP
  std::string in_flight_;         // ciphertext TCP is writing (kept alive until it is done)
  std::string failure_;
  std::string server_name_;       // client side: the SNI name (OpenSSL keeps a pointer to it)
  net::HandleOwner* closed_owner_ = nullptr;
  int open_handles_ = 2;
  int last_error_ = 0;
  bool client_ = false;
  bool handshake_done_ = false;
  bool resumed_ = false;
  bool reading_ = false;
  bool tcp_eof_ = false;
  int tcp_eof_status_ = 0;
  bool read_end_reported_ = false;
  bool user_write_pending_ = false;
  bool shutdown_after_flush_ = false;
  bool closing_ = false;
  bool processing_ = false;  // process_input() is on the stack
};

}  // namespace haven::tls
