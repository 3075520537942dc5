#pragma once
// A listening socket with its own accept loop. haven accepts by hand (accept4 on a uv_poll)
// rather than through uv_listen so that it can pause accepting: at max_connections, and when
// the process is out of file descriptors, where libuv would otherwise drop connections.
#include <cstdint>
#include <string>

#include "haven/net/loop.hpp"
#include "haven/net/socket_address.hpp"
#include "haven/net/timer.hpp"

namespace haven::net {

class AcceptHandler {
 public:
  // A new connected, non-blocking socket from `peer`; the handler owns `fd` from here on.
  virtual void on_accept(int fd, const sockaddr* peer) = 0;
  // Whether the handler can take another connection now (max_connections).
  virtual bool can_accept() = 0;

 protected:
  ~AcceptHandler() = default;
};

class Listener : private HandleOwner {
 public:
  Listener(Loop& loop, AcceptHandler& handler);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens. With `reuse_port` (SO_REUSEPORT) every worker has its own socket on the
  // same port and the kernel spreads connections; without it a port in use is an error. Returns 0
  // or a negative errno; `error` says what failed.
  int open(const SocketAddress& address, std::string& error, bool reuse_port = true);
  // A bound, listening, non-blocking socket, for a Listener to adopt() (possibly on another
  // thread's loop). Returns the descriptor or a negative errno; `error` says what failed.
  static int bind_socket(const SocketAddress& address, std::string& error, bool reuse_port = true);
  // Takes over a socket from bind_socket() and starts accepting on it.
  void adopt(int fd);
  [[nodiscard]] std::uint16_t port() const;

  // Stops accepting until resume(); pending connections wait in the kernel's backlog.
  void pause();
  void resume();
  // Stops accepting for good and closes the socket; `owner` is told when done.
  void close(HandleOwner* owner);
  [[nodiscard]] bool open() const { return fd_ >= 0 && !closing_; }
  [[nodiscard]] bool closing() const { return closing_; }
  // The listening socket (-1 when none or closing): an upgrade in place sends it to the new
  // process, which gets its own descriptor for the same socket.
  [[nodiscard]] int fd() const { return closing_ ? -1 : fd_; }

 private:
  friend struct ListenerAccess;
  void on_readable();
  void on_handle_closed() override;

  alignas(16) unsigned char poll_[168];  // uv_poll_t, in place
  Timer retry_timer_;                    // out of descriptors: try again a little later
  Loop& loop_;
  AcceptHandler& handler_;
  HandleOwner* closed_owner_ = nullptr;
  int fd_ = -1;
  int pending_closes_ = 0;
  bool polling_ = false;
  bool closing_ = false;
  bool poll_initialised_ = false;
};

}  // namespace haven::net
