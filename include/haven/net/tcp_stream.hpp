#pragma once
// A TCP connection over a uv_tcp_t held in place. Writes try the socket synchronously first and
// queue only what the kernel would not take, so the common case costs no request allocation.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "haven/net/loop.hpp"
#include "haven/net/stream.hpp"
#include "haven/net/timer.hpp"

namespace haven::net {

class TcpStream final : public Stream {
 public:
  TcpStream(Loop& loop, StreamHandler& handler);
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  void set_handler(StreamHandler& handler) override { handler_ = &handler; }

  // Adopts an accepted socket. Returns 0 or a libuv error code.
  int adopt(int fd);
  int connect(const sockaddr* address) override;
  int read_start() override;
  void read_stop() override;
  [[nodiscard]] bool reading() const override { return reading_; }
  WriteOutcome write(std::span<const IoSlice> slices) override;
  [[nodiscard]] bool write_pending() const override { return write_request_ != nullptr; }
  [[nodiscard]] int last_error() const override { return last_error_; }
  void shutdown() override;
  void close(HandleOwner* closed_owner, bool reset = false) override;
  [[nodiscard]] bool closing() const override { return closing_; }
  void set_nodelay() override;
  // The socket's descriptor (for socket options), or -1.
  [[nodiscard]] int fd() const;

 private:
  friend struct StreamAccess;
  alignas(16) unsigned char handle_[256];  // uv_tcp_t, in place (libuv handles must not move)
  StreamHandler* handler_;
  void* write_request_ = nullptr;          // uv_write_t while a write is queued
  HandleOwner* closed_owner_ = nullptr;
  int last_error_ = 0;
  bool reading_ = false;
  bool closing_ = false;
};

}  // namespace haven::net
