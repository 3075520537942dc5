#include "haven/app/takeover.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>

#include "haven/net/fd_passing.hpp"

namespace haven::app {

namespace {

constexpr std::chrono::milliseconds kExchangeTimeout{10'000};

}  // namespace

Takeover::~Takeover() {
  if (fd_ >= 0) ::close(fd_);
}

std::string Takeover::start(long pid, Handover& handover) {
  const std::string name = handover_socket_name(pid);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, name.data(), name.size());
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return fmt::format("socket: {}", std::strerror(errno));
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  // Not blocking: a haven whose backlog is full (stuck) must not hold this process for ever.
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    const int saved = errno;
    if (saved != EAGAIN && saved != EINPROGRESS) {
      ::close(fd_);
      fd_ = -1;
      return fmt::format("no haven of PID {} takes upgrades here ({})", pid, std::strerror(saved));
    }
    pollfd watched{fd_, POLLOUT, 0};
    int error = 0;
    socklen_t error_length = sizeof error;
    if (::poll(&watched, 1, static_cast<int>(kExchangeTimeout.count())) != 1 ||
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &error_length) != 0 || error != 0) {
      return fmt::format("the haven of PID {} did not take the connection", pid);
    }
  }
  // The abstract namespace has no permissions: anyone could have bound this name first. Only the
  // process named in the pid file, running as this user or root, is the haven to replace.
  ucred peer{};
  socklen_t peer_length = sizeof peer;
  if (::getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &peer, &peer_length) != 0 || static_cast<long>(peer.pid) != pid ||
      (peer.uid != ::geteuid() && peer.uid != 0)) {
    return fmt::format("the socket @{} is not held by process {} of this user: refusing what it would send",
                       name.substr(1), pid);
  }
  if (std::string error = net::send_all(fd_, std::string(kHandoverHello) + "\n", kExchangeTimeout); !error.empty()) {
    return "the running haven did not listen: " + error;
  }
  net::ReceivedFrame first;
  if (std::string error = net::receive_frame(fd_, first, kExchangeTimeout); !error.empty()) {
    return "the running haven sent nothing usable: " + error;
  }
  std::vector<int> fds = std::move(first.fds);
  const auto close_received = [&fds] {
    for (const int fd : fds) ::close(fd);
  };
  if (std::string error = handover_from_json(first.payload, handover); !error.empty()) {
    close_received();
    return error;
  }
  while (fds.size() < handover.listeners.size()) {
    net::ReceivedFrame more;
    if (std::string error = net::receive_frame(fd_, more, kExchangeTimeout); !error.empty()) {
      close_received();
      return "the running haven stopped sending its sockets: " + error;
    }
    // Every frame after the first carries descriptors: the exchange ends in a bounded number.
    if (more.fds.empty()) {
      close_received();
      return "the running haven sent a frame without sockets";
    }
    fds.insert(fds.end(), more.fds.begin(), more.fds.end());
  }
  if (fds.size() != handover.listeners.size()) {
    close_received();
    return "the running haven sent more sockets than it listed";
  }
  for (std::size_t i = 0; i < fds.size(); ++i) handover.listeners[i].fd = fds[i];
  return {};
}

std::string Takeover::ready() {
  if (fd_ < 0) return "no hand-over under way";
  std::string error = net::send_all(fd_, "ready\n", kExchangeTimeout);
  std::string answer;
  if (error.empty()) error = net::receive_line(fd_, answer, 512, kExchangeTimeout);
  ::close(fd_);
  fd_ = -1;
  if (!error.empty()) return "the running haven did not confirm: " + error;
  if (answer != "ok") return fmt::format("the running haven did not confirm (it said \"{}\")", answer);
  return {};
}

void Takeover::failed(const std::string& why) {
  if (fd_ < 0) return;
  std::string line = why;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  net::send_all(fd_, "failed: " + line.substr(0, 400) + "\n", kExchangeTimeout);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace haven::app
