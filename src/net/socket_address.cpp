#include "haven/net/socket_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace haven::net {

bool SocketAddress::assign(std::string_view host, std::uint16_t port) {
  const std::string text(host);
  storage_ = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage_);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length_ = sizeof(sockaddr_in);
    return true;
  }
  storage_ = {};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage_);
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length_ = sizeof(sockaddr_in6);
    return true;
  }
  length_ = 0;
  return false;
}

bool SocketAddress::describe(const sockaddr* address, std::string& host, std::uint16_t& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    if (inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text) == nullptr) return false;
    port = ntohs(v4->sin_port);
  } else if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    if (inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text) == nullptr) return false;
    port = ntohs(v6->sin6_port);
  } else {
    return false;
  }
  host = text;
  return true;
}

}  // namespace haven::net
