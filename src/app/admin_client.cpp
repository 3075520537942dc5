#include "haven/app/admin_client.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace haven::app {

namespace {

constexpr std::size_t kMaxAnswer = 16 * 1024 * 1024;

// Waits until `fd` is ready for `events` or the deadline passes.
bool wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd entry{fd, events, 0};
    const int ready = ::poll(&entry, 1, static_cast<int>(left.count()));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

}  // namespace

bool parse_admin_url(std::string_view text, AdminUrl& out, std::string& error) {
  if (text.starts_with("unix:")) {
    out.unix_path = std::string(text.substr(5));
    out.host = "localhost";
    if (out.unix_path.empty() || out.unix_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      error = fmt::format("bad admin socket {}", text);
      return false;
    }
    return true;
  }
  std::string_view rest = text;
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  if (rest.starts_with("https://")) {
    error = "the admin listener speaks plain HTTP (http://...)";
    return false;
  }
  if (const std::size_t slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  std::string_view host;
  std::string_view port = "9000";
  if (rest.starts_with("[")) {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      error = fmt::format("bad admin address {}", text);
      return false;
    }
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') {
        error = fmt::format("bad admin address {}", text);
        return false;
      }
      port = rest.substr(close + 2);
    }
  } else if (const std::size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  } else {
    host = rest;
  }
  if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos) {
    error = fmt::format("bad admin address {} (expected http://HOST:PORT)", text);
    return false;
  }
  out.host = std::string(host);
  out.port = std::string(port);
  return true;
}

bool admin_request(const AdminUrl& url, std::string_view method, std::string_view path, std::string_view token,
                   std::string_view body, HttpAnswer& answer, std::string& error, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int fd = -1;
  std::string last_error = "no address";
  if (!url.unix_path.empty()) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, url.unix_path.c_str(), url.unix_path.size() + 1);
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 && errno != EINPROGRESS) {
      last_error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
    if (fd < 0) {
      error = fmt::format("cannot reach haven's admin listener at unix:{}: {}", url.unix_path, last_error);
      return false;
    }
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* found = nullptr;
  if (fd < 0) {
    if (const int rc = ::getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found); rc != 0) {
      error = fmt::format("cannot resolve {}: {}", url.host, ::gai_strerror(rc));
      return false;
    }
  }
  for (addrinfo* address = found; address != nullptr && fd < 0; address = address->ai_next) {
    fd = ::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, address->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, address->ai_addr, address->ai_addrlen) == 0 ||
        (errno == EINPROGRESS && wait_for(fd, POLLOUT, deadline))) {
      int so_error = 0;
      socklen_t length = sizeof so_error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length);
      if (so_error == 0) break;
      last_error = std::strerror(so_error);
    } else {
      last_error = errno == EINPROGRESS ? "timed out" : std::strerror(errno);
    }
    ::close(fd);
    fd = -1;
  }
  if (found != nullptr) ::freeaddrinfo(found);
  if (fd < 0) {
    error = fmt::format("cannot reach haven's admin listener at {}:{}: {}", url.host, url.port, last_error);
    return false;
  }
  const bool ipv6 = url.host.find(':') != std::string::npos;
  const std::string host =
      url.unix_path.empty() ? fmt::format("{}{}{}:{}", ipv6 ? "[" : "", url.host, ipv6 ? "]" : "", url.port) : "localhost";
  std::string request =
      fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: haven-ctl\r\nAccept: */*\r\n", method, path, host);
  if (!token.empty()) request += fmt::format("Authorization: Bearer {}\r\n", token);
  if (!body.empty() || method == "POST" || method == "PATCH") {
    request += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n", body.size());
  }
  request += "Connection: close\r\n\r\n";
  request += body;
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd, POLLOUT, deadline)) break;
    } else {
      break;
    }
  }
  std::string received;
  char chunk[16384];
  while (sent == request.size() && received.size() < kMaxAnswer) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      received.append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(fd, POLLIN, deadline)) {
        ::close(fd);
        error = "haven's admin listener did not answer in time";
        return false;
      }
    } else {
      break;
    }
  }
  ::close(fd);
  const std::size_t head_end = received.find("\r\n\r\n");
  if (sent != request.size() || !received.starts_with("HTTP/1.") || received.size() < 12 ||
      head_end == std::string::npos) {
    error = "haven's admin listener gave no HTTP answer";
    return false;
  }
  answer.status = std::atoi(received.c_str() + 9);
  answer.body = received.substr(head_end + 4);
  return true;
}

std::string tcp_accepts(const std::string& host, int port, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0 || found == nullptr) {
    return fmt::format("bad address {}", host);
  }
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ::freeaddrinfo(found);
    return std::strerror(errno);
  }
  std::string why;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (::connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      why = std::strerror(errno);
    } else if (!wait_for(fd, POLLOUT, deadline)) {
      why = fmt::format("no answer within {} ms", timeout.count());
    } else {
      int error = 0;
      socklen_t length = sizeof error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) why = std::strerror(error);
    }
  }
  ::freeaddrinfo(found);
  ::close(fd);
  return why;
}

}  // namespace haven::app
