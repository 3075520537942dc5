#include "haven/net/fd_passing.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace haven::net {

namespace {

using Clock = std::chrono::steady_clock;

// Waits until `socket` is ready for `events` or the deadline passes. Returns "" or why not.
std::string wait_for(int socket, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return "timed out";
    pollfd watched{socket, events, 0};
    const int ready = ::poll(&watched, 1, static_cast<int>(left));
    if (ready > 0) return {};
    if (ready < 0 && errno != EINTR) return std::strerror(errno);
  }
}

void close_all(std::vector<int>& fds) {
  for (const int fd : fds) ::close(fd);
  fds.clear();
}

// Reads exactly `length` bytes into `out`, collecting any descriptors that come with them.
std::string receive_exact(int socket, char* out, std::size_t length, std::vector<int>& fds, Clock::time_point deadline) {
  std::size_t got = 0;
  while (got < length) {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerFrame)];
    iovec vector{out + got, length - got};
    msghdr message{};
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(socket, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n > 0) {
      for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const auto* received = reinterpret_cast<const int*>(CMSG_DATA(header));
        for (std::size_t i = 0; i < count; ++i) {
          int fd = -1;
          std::memcpy(&fd, received + i, sizeof fd);
          fds.push_back(fd);
        }
      }
      // Descriptors that did not fit are closed by the kernel: the sender broke its own limit.
      if ((message.msg_flags & MSG_CTRUNC) != 0) return "too many descriptors in one frame";
      got += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) return "the other side closed the connection";
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return std::strerror(errno);
    if (std::string error = wait_for(socket, POLLIN, deadline); !error.empty()) return error;
  }
  return {};
}

}  // namespace

std::string send_frame(int socket, std::string_view payload, std::span<const int> fds,
                       std::chrono::milliseconds timeout) {
  if (fds.size() > kMaxFdsPerFrame) return "too many descriptors for one frame";
  if (payload.size() > kMaxFramePayload) return "frame too large";
  const Clock::time_point deadline = Clock::now() + timeout;
  std::uint32_t header[2] = {static_cast<std::uint32_t>(payload.size()), static_cast<std::uint32_t>(fds.size())};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerFrame)];
  std::size_t sent = 0;
  const std::size_t total = sizeof header + payload.size();
  while (sent < total) {
    iovec vectors[2];
    int count = 0;
    if (sent < sizeof header) {
      vectors[count++] = {reinterpret_cast<char*>(header) + sent, sizeof header - sent};
      vectors[count++] = {const_cast<char*>(payload.data()), payload.size()};
    } else {
      const std::size_t offset = sent - sizeof header;
      vectors[count++] = {const_cast<char*>(payload.data()) + offset, payload.size() - offset};
    }
    msghdr message{};
    message.msg_iov = vectors;
    message.msg_iovlen = static_cast<std::size_t>(count);
    // The descriptors go with the first bytes, and only once.
    if (sent == 0 && !fds.empty()) {
      message.msg_control = control;
      message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* header_cmsg = CMSG_FIRSTHDR(&message);
      header_cmsg->cmsg_level = SOL_SOCKET;
      header_cmsg->cmsg_type = SCM_RIGHTS;
      header_cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(header_cmsg), fds.data(), sizeof(int) * fds.size());
    }
    const ssize_t n = ::sendmsg(socket, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return std::strerror(errno);
    if (std::string error = wait_for(socket, POLLOUT, deadline); !error.empty()) return error;
  }
  return {};
}

std::string receive_frame(int socket, ReceivedFrame& frame, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  std::uint32_t header[2] = {0, 0};
  std::string error = receive_exact(socket, reinterpret_cast<char*>(header), sizeof header, frame.fds, deadline);
  if (error.empty() && (header[0] > kMaxFramePayload || header[1] > kMaxFdsPerFrame)) error = "frame too large";
  if (error.empty()) {
    frame.payload.resize(header[0]);
    error = receive_exact(socket, frame.payload.data(), frame.payload.size(), frame.fds, deadline);
  }
  if (error.empty() && frame.fds.size() != header[1]) error = "descriptors missing from a frame";
  if (!error.empty()) close_all(frame.fds);
  return error;
}

std::string receive_line(int socket, std::string& line, std::size_t limit, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  line.clear();
  while (line.size() < limit) {
    char c = 0;
    const ssize_t n = ::recv(socket, &c, 1, MSG_DONTWAIT);
    if (n == 1) {
      if (c == '\n') return {};
      line.push_back(c);
      continue;
    }
    if (n == 0) return "the other side closed the connection";
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return std::strerror(errno);
    if (std::string error = wait_for(socket, POLLIN, deadline); !error.empty()) return error;
  }
  return "line too long";
}

std::string send_all(int socket, std::string_view text, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!text.empty()) {
    const ssize_t n = ::send(socket, text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      text.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return std::strerror(errno);
    if (std::string error = wait_for(socket, POLLOUT, deadline); !error.empty()) return error;
  }
  return {};
}

}  // namespace haven::net
