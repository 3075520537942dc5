#pragma once
// One check: connect, send the check request, read the response head with the same strict
// HTTP/1 client codec traffic uses (upstream::ResponseReader), give a verdict. A TLS server is
// checked over TLS, verified as traffic to it is. Uses its own connection (never a client's) and
// deletes itself once closed.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "haven/config/config.hpp"
#include "haven/http/message_head.hpp"
#include "haven/http/message_parser.hpp"
#include "haven/net/buffer_pool.hpp"
#include "haven/net/socket_address.hpp"
#include "haven/net/tcp_stream.hpp"
#include "haven/net/timer.hpp"
#include "haven/tls/client_context.hpp"
#include "haven/tls/tls_stream.hpp"
#include "haven/upstream/response_reader.hpp"

namespace haven::health {

class Checker;

class Probe final : private net::StreamHandler, private http::MessageSink, private net::HandleOwner {
 public:
  // `buffers` (the checker's) must outlive the probe's verdict; the probe returns its buffer then.
  // `tls`: the backend's TLS context when the server speaks TLS (to `server_name`), else nullptr.
  Probe(net::Loop& loop, net::BufferPool& buffers, Checker& checker, std::uint64_t check_id, const std::string& request,
        const config::Check& check, const http::ParseLimits& limits, std::shared_ptr<tls::ClientContext> tls,
        const std::string& server_name);
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  void start(const net::SocketAddress& address, core::Duration timeout);
  // The checker is going away: finish silently.
  void cancel();

 private:
  // Stream events.
  char* on_alloc(std::size_t& capacity) override;
  void on_read(std::size_t length) override;
  void on_read_end(int status) override;
  void on_write_done(int status) override;
  void on_connect_done(int status) override;
  void on_handle_closed() override;
  // Response events: the verdict comes with the head.
  http::MessageHead& on_message_begin() override { return response_; }
  int on_head(http::MessageHead& head) override;
  void on_body(const char* /*data*/, std::size_t /*length*/) override {}
  int on_message_complete() override { return http::kSinkPause; }

  static void on_timeout(void* self) noexcept;
  // `no_verdict`: the check could not run here (out of descriptors); it says nothing of the server.
  void finish(bool ok, const std::string& reason, bool no_verdict = false);

  net::TcpStream tcp_;
  std::unique_ptr<tls::TlsStream> tls_;
  net::Stream* stream_;  // tls_ when there is one, else tcp_
  net::Timer timer_;
  net::BufferPool& buffers_;
  Checker* checker_;
  std::uint64_t check_id_;
  int status_ = 0;  // the response's status code, once read
  const std::string& request_;
  const config::Check& check_;
  std::chrono::steady_clock::time_point started_;
  http::MessageHead response_;
  upstream::ResponseReader reader_;
  char discard_[64];  // where bytes go after the verdict or without memory for a buffer
  int open_handles_ = 2;
  bool done_ = false;
};

}  // namespace haven::health
