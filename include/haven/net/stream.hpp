#pragma once
// A byte stream as connections above it see it: plain TCP (TcpStream) or TLS over TCP. Nothing
// above knows which; buffers and out-queues live below it and are shared by both.
#include <cstddef>
#include <cstdint>
#include <span>

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
  // The peer closed its side (status == Stream::kEof) or the connection failed (an error code).
  virtual void on_read_end(int status) = 0;
  // A write that returned WriteOutcome::Pending finished (status 0 or an error code).
  virtual void on_write_done(int status) = 0;
  // The stream is ready for traffic (TCP connected and, over TLS, the handshake done), or failed.
  virtual void on_connect_done(int status) = 0;

 protected:
  ~StreamHandler() = default;
};

enum class WriteOutcome : std::uint8_t { Done, Pending, Failed };

class Stream {
 public:
  static const int kEof;
  static const int kCanceled;
  static const int kTimedOut;
  static const int kRefused;  // nothing listens at the address
  static const int kTlsFailed;  // the TLS layer failed (the TLS stream says why)
  // The peer closed TCP under TLS without a close_notify: what came before may be cut short.
  static const int kTlsTruncated;
  static const int kNoBuffers;  // no memory for a read buffer (a local shortage)
  static constexpr std::size_t kMaxSlices = 64;

  // Events go to another handler from now on (a pooled connection changes hands).
  virtual void set_handler(StreamHandler& handler) = 0;
  // Starts connecting to `address`; on_connect_done follows unless this returns an error.
  virtual int connect(const sockaddr* address) = 0;
  virtual int read_start() = 0;
  virtual void read_stop() = 0;
  [[nodiscard]] virtual bool reading() const = 0;
  // Sends at most kMaxSlices slices. Done: all taken now. Pending: the rest is queued and every
  // slice must stay alive until on_write_done. Failed: `last_error()` tells why; nothing is queued.
  virtual WriteOutcome write(std::span<const IoSlice> slices) = 0;
  [[nodiscard]] virtual bool write_pending() const = 0;
  [[nodiscard]] virtual int last_error() const = 0;
  // Sends FIN (over TLS: close_notify, then FIN) once queued writes are flushed.
  virtual void shutdown() = 0;
  // Idempotent. `reset` sends RST instead of FIN (aborting a response the client must not take
  // as complete). `closed_owner` is told once every handle underneath is closed.
  virtual void close(HandleOwner* closed_owner, bool reset = false) = 0;
  [[nodiscard]] virtual bool closing() const = 0;
  virtual void set_nodelay() = 0;
  // Bytes received but not yet handed to the handler (TLS holds records back while the handler
  // does not read): a connection with such bytes is not idle.
  [[nodiscard]] virtual bool has_buffered_input() const { return false; }

  // A status in words (libuv's, or the TLS layer's for its own codes).
  static const char* error_name(int status);
  // The failure is this process running out of descriptors or memory, not the peer's doing.
  static bool is_local_resource_error(int status);

 protected:
  ~Stream() = default;
};

}  // namespace haven::net
