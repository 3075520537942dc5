#include "haven/net/tcp_stream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>

#include <uv.h>

namespace haven::net {

static_assert(sizeof(uv_tcp_t) <= 256 && alignof(uv_tcp_t) <= 16);



struct StreamAccess {
  static uv_tcp_t* tcp(TcpStream& s) { return reinterpret_cast<uv_tcp_t*>(s.handle_); }
  static const uv_tcp_t* tcp(const TcpStream& s) { return reinterpret_cast<const uv_tcp_t*>(s.handle_); }
  static uv_stream_t* stream(TcpStream& s) { return reinterpret_cast<uv_stream_t*>(s.handle_); }
  static TcpStream& self(const uv_handle_t* handle) { return *static_cast<TcpStream*>(handle->data); }

  static void on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) noexcept {
    std::size_t capacity = 0;
    buf->base = self(handle).handler_->on_alloc(capacity);
    buf->len = capacity;
  }
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) noexcept {
    auto& s = self(reinterpret_cast<uv_handle_t*>(stream));
    if (nread > 0) {
      s.handler_->on_read(static_cast<std::size_t>(nread));
    } else if (nread < 0) {
      s.reading_ = false;
      uv_read_stop(stream);
      s.handler_->on_read_end(static_cast<int>(nread));
    }
    // nread == 0 is EAGAIN: nothing to do.
  }
  static void on_write(uv_write_t* request, int status) noexcept {
    auto& s = self(reinterpret_cast<uv_handle_t*>(request->handle));
    delete request;
    s.write_request_ = nullptr;
    if (status == UV_ECANCELED) return;  // the stream is closing; its owner is going away
    s.handler_->on_write_done(status);
  }
  static void on_connect(uv_connect_t* request, int status) noexcept {
    auto& s = self(reinterpret_cast<uv_handle_t*>(request->handle));
    delete request;
    if (status == UV_ECANCELED) return;
    s.handler_->on_connect_done(status);
  }
  static void on_shutdown(uv_shutdown_t* request, int /*status*/) noexcept { delete request; }
  static void on_close(uv_handle_t* handle) noexcept {
    auto& s = self(handle);
    if (s.closed_owner_ != nullptr) s.closed_owner_->on_handle_closed();
  }
};

TcpStream::TcpStream(Loop& loop, StreamHandler& handler) : handler_(&handler) {
  uv_tcp_init(loop.get(), StreamAccess::tcp(*this));
  StreamAccess::tcp(*this)->data = this;
}

int TcpStream::adopt(int fd) { return uv_tcp_open(StreamAccess::tcp(*this), fd); }

int TcpStream::connect(const sockaddr* address) {
  auto* request = new uv_connect_t;
  const int rc = uv_tcp_connect(request, StreamAccess::tcp(*this), address, &StreamAccess::on_connect);
  if (rc != 0) delete request;
  return rc;
}

int TcpStream::read_start() {
  if (reading_ || closing_) return 0;
  const int rc = uv_read_start(StreamAccess::stream(*this), &StreamAccess::on_alloc, &StreamAccess::on_read);
  reading_ = rc == 0;
  return rc;
}

void TcpStream::read_stop() {
  if (!reading_ || closing_) return;
  uv_read_stop(StreamAccess::stream(*this));
  reading_ = false;
}

WriteOutcome TcpStream::write(std::span<const IoSlice> slices) {
  if (closing_ || write_request_ != nullptr || slices.size() > kMaxSlices) {
    last_error_ = closing_ ? UV_ECANCELED : UV_EBUSY;
    return WriteOutcome::Failed;
  }
  std::array<uv_buf_t, kMaxSlices> bufs;
  std::size_t count = 0;
  for (const auto& slice : slices) {
    if (slice.length != 0) {
      bufs[count++] = uv_buf_init(const_cast<char*>(slice.data), static_cast<unsigned>(slice.length));
    }
  }
  if (count == 0) return WriteOutcome::Done;
  int written = uv_try_write(StreamAccess::stream(*this), bufs.data(), static_cast<unsigned>(count));
  if (written == UV_EAGAIN) written = 0;
  if (written < 0) {
    last_error_ = written;
    return WriteOutcome::Failed;
  }
  // Skip what the kernel took; queue the rest.
  auto remaining = static_cast<std::size_t>(written);
  std::size_t index = 0;
  while (index < count && remaining >= bufs[index].len) {
    remaining -= bufs[index].len;
    ++index;
  }
  if (index == count) return WriteOutcome::Done;
  bufs[index].base += remaining;
  bufs[index].len -= remaining;
  auto* request = new uv_write_t;
  const int rc = uv_write(request, StreamAccess::stream(*this), bufs.data() + index,
                          static_cast<unsigned>(count - index), &StreamAccess::on_write);
  if (rc != 0) {
    delete request;
    last_error_ = rc;
    return WriteOutcome::Failed;
  }
  write_request_ = request;
  return WriteOutcome::Pending;
}

void TcpStream::shutdown() {
  if (closing_) return;
  // Nothing queued: shut down now. uv_shutdown would arm and disarm write polling (two epoll_ctl
  // calls and a loop turn) only to find nothing to flush.
  uv_os_fd_t fd = -1;
  if (write_request_ == nullptr && uv_fileno(reinterpret_cast<const uv_handle_t*>(handle_), &fd) == 0) {
    ::shutdown(fd, SHUT_WR);
    return;
  }
  auto* request = new uv_shutdown_t;
  if (uv_shutdown(request, StreamAccess::stream(*this), &StreamAccess::on_shutdown) != 0) delete request;
}

void TcpStream::close(HandleOwner* closed_owner, bool reset) {
  if (closing_) return;
  closing_ = true;
  reading_ = false;
  closed_owner_ = closed_owner;
  if (reset && uv_tcp_close_reset(StreamAccess::tcp(*this), &StreamAccess::on_close) == 0) return;
  uv_close(reinterpret_cast<uv_handle_t*>(StreamAccess::tcp(*this)), &StreamAccess::on_close);
}

void TcpStream::set_nodelay() { uv_tcp_nodelay(StreamAccess::tcp(*this), 1); }


int TcpStream::fd() const {
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(handle_), &fd) != 0) return -1;
  return fd;
}

}  // namespace haven::net
