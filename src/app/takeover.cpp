#include "haven/app/takeover.hpp"

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
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return fmt::format("socket: {}", std::strerror(errno));
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    const int saved = errno;
    ::close(fd_);
    fd_ = -1;
    return fmt::format("no haven of PID {} takes upgrades here ({})", pid, std::strerror(saved));
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
    fds.insert(fds.end(), more.fds.begin(), more.fds.end());
  }
  if (fds.size() != handover.listeners.size()) {
    close_received();
    return "the running haven sent more sockets than it listed";
  }
  for (std::size_t i = 0; i < fds.size(); ++i) handover.listeners[i].fd = fds[i];
  return {};
}

void Takeover::ready() {
  if (fd_ < 0) return;
  net::send_all(fd_, "ready\n", kExchangeTimeout);
  ::close(fd_);
  fd_ = -1;
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
