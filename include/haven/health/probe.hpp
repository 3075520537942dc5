#pragma once
// One check: connect, send the check request, read the status line, give a verdict. Uses its own
// connection (never a client's) and deletes itself once closed.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "haven/config/config.hpp"
#include "haven/net/socket_address.hpp"
#include "haven/net/tcp_stream.hpp"
#include "haven/net/timer.hpp"

namespace haven::health {

class Checker;

class Probe final : private net::StreamHandler, private net::HandleOwner {
 public:
  Probe(net::Loop& loop, Checker& checker, std::uint64_t check_id, const std::string& request,
        const config::Check& check);
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  void start(const net::SocketAddress& address, core::Duration timeout);
  // The checker is going away: finish silently.
  void cancel();

 private:
  char* on_alloc(std::size_t& capacity) override;
  void on_read(std::size_t length) override;
  void on_read_end(int status) override;
  void on_write_done(int status) override;
  void on_connect_done(int status) override;
  void on_handle_closed() override;
  static void on_timeout(void* self) noexcept;
  // `no_verdict`: the check could not run here (out of descriptors); it says nothing of the server.
  void finish(bool ok, const std::string& reason, bool no_verdict = false);

  net::TcpStream stream_;
  net::Timer timer_;
  Checker* checker_;
  std::uint64_t check_id_;
  int status_ = 0;  // the response's status code, once read
  const std::string& request_;
  const config::Check& check_;
  std::chrono::steady_clock::time_point started_;
  char response_[512];
  std::size_t received_ = 0;
  int open_handles_ = 2;
  bool done_ = false;
};

// "HTTP/1.1 200 OK\r\n..." -> 200; 0 when the bytes are not an HTTP/1.x status line.
int parse_status_line(std::string_view bytes);

}  // namespace haven::health
