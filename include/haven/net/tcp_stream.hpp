#pragma once
// A TCP connection over a uv_tcp_t held in place. Writes try the socket synchronously first and
// queue only what the kernel would not take, so the common case costs no request allocation.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "haven/net/loop.hpp"
#include "haven/net/timer.hpp"

struct sockaddr;

namespace haven::net {

struct IoSlice {
  const char* data = nullptr;
  std::size_t length = 0;
};

class StreamHandler {
 public:
  // Where the next read goes: at most `capacity` bytes at the returned pointer (never null:
  // a handler that cannot take bytes stops reading instead).
  virtual char* on_alloc(std::size_t& capacity) = 0;
  // `length` bytes landed where on_alloc pointed.
  virtual void on_read(std::size_t length) = 0;
  // The peer closed its side (status == kEof) or the connection failed (a libuv error code).
  virtual void on_read_end(int status) = 0;
  // A write that returned WriteOutcome::Pending finished (status 0 or a libuv error code).
  virtual void on_write_done(int status) = 0;
  virtual void on_connect_done(int status) = 0;

 protected:
  ~StreamHandler() = default;
};

enum class WriteOutcome : std::uint8_t { Done, Pending, Failed };

class TcpStream {
 public:
  static const int kEof;
  static const int kCanceled;
  static const int kTimedOut;
  static const int kRefused;  // nothing listens at the address

  TcpStream(Loop& loop, StreamHandler& handler);
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  // Events go to another handler from now on (a pooled connection changes hands).
  void set_handler(StreamHandler& handler) { handler_ = &handler; }

  // Adopts an accepted socket. Returns 0 or a libuv error code.
  int adopt(int fd);
  // Starts connecting; on_connect_done follows unless this returns an error.
  int connect(const sockaddr* address);
  int read_start();
  void read_stop();
  [[nodiscard]] bool reading() const { return reading_; }

  static constexpr std::size_t kMaxSlices = 64;

  // Sends at most kMaxSlices slices. Done: all written now. Pending: the rest is queued and every slice must stay
  // alive until on_write_done. Failed: `last_error()` tells why; nothing is queued.
  WriteOutcome write(std::span<const IoSlice> slices);
  [[nodiscard]] bool write_pending() const { return write_request_ != nullptr; }
  [[nodiscard]] int last_error() const { return last_error_; }
  // Sends FIN once queued writes are flushed.
  void shutdown();
  // Idempotent. `reset` sends RST instead of FIN (aborting a response the client must not take
  // as complete). `closed_owner` is told once the handle is closed.
  void close(HandleOwner* closed_owner, bool reset = false);
  [[nodiscard]] bool closing() const { return closing_; }

  void set_nodelay();

  static const char* error_name(int status);
  // The failure is this process running out of descriptors or memory, not the peer's doing.
  static bool is_local_resource_error(int status);

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
