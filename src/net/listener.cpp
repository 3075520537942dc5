#include "haven/net/listener.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <uv.h>

namespace haven::net {

static_assert(sizeof(uv_poll_t) <= 168 && alignof(uv_poll_t) <= 16);

namespace {
constexpr int kAcceptBatch = 64;           // accepts per wake-up, so one busy listener cannot starve the loop
constexpr core::Duration kEmfileRetry{100};  // out of descriptors: look again after this
}  // namespace

struct ListenerAccess {
  static uv_poll_t* poll(Listener& l) { return reinterpret_cast<uv_poll_t*>(l.poll_); }
  static void on_poll(uv_poll_t* handle, int status, int /*events*/) noexcept {
    if (status < 0) return;
    static_cast<Listener*>(handle->data)->on_readable();
  }
  static void on_retry(void* owner) noexcept { static_cast<Listener*>(owner)->resume(); }
  static void on_close(uv_handle_t* handle) noexcept { static_cast<Listener*>(handle->data)->on_handle_closed(); }
};

Listener::Listener(Loop& loop, AcceptHandler& handler)
    : retry_timer_(loop, &ListenerAccess::on_retry, this), loop_(loop), handler_(handler) {}

Listener::~Listener() {
  if (fd_ >= 0 && !poll_initialised_) ::close(fd_);
}

int Listener::bind_socket(const SocketAddress& address, std::string& error, bool reuse_port) {
  const int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -errno;
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (address.family() == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, address.get(), address.length()) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    const int saved = errno;
    error = std::strerror(saved);
    ::close(fd);
    return -saved;
  }
  return fd;
}

int Listener::open(const SocketAddress& address, std::string& error, bool reuse_port) {
  const int fd = bind_socket(address, error, reuse_port);
  if (fd < 0) return fd;
  adopt(fd);
  return 0;
}

void Listener::adopt(int fd) {
  fd_ = fd;
  uv_poll_init_socket(loop_.get(), ListenerAccess::poll(*this), fd_);
  ListenerAccess::poll(*this)->data = this;
  poll_initialised_ = true;
  resume();
}

std::uint16_t Listener::port() const {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
}

void Listener::pause() {
  if (!polling_) return;
  uv_poll_stop(ListenerAccess::poll(*this));
  polling_ = false;
}

void Listener::resume() {
  if (polling_ || closing_ || !poll_initialised_) return;
  retry_timer_.stop();
  uv_poll_start(ListenerAccess::poll(*this), UV_READABLE, &ListenerAccess::on_poll);
  polling_ = true;
}

void Listener::on_readable() {
  for (int i = 0; i < kAcceptBatch; ++i) {
    if (!handler_.can_accept()) {
      // At the connection limit: this worker resumes us when one of its connections ends, the
      // timer when another worker's does.
      pause();
      retry_timer_.start(kEmfileRetry);
      return;
    }
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof peer;
    const int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      handler_.on_accept(fd, reinterpret_cast<const sockaddr*>(&peer));
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      // Leave the connection in the backlog instead of spinning on a readable socket.
      pause();
      retry_timer_.start(kEmfileRetry);
    }
    return;  // EAGAIN or a pause
  }
}

void Listener::close(HandleOwner* owner) {
  if (closing_) return;
  closing_ = true;
  closed_owner_ = owner;
  pending_closes_ = 1;
  retry_timer_.close(this);
  if (poll_initialised_) {
    ++pending_closes_;
    uv_poll_stop(ListenerAccess::poll(*this));
    polling_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(ListenerAccess::poll(*this)), &ListenerAccess::on_close);
  }
}

void Listener::on_handle_closed() {
  if (--pending_closes_ > 0) return;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (closed_owner_ != nullptr) closed_owner_->on_handle_closed();
}

}  // namespace haven::net
