#pragma once
// A resolved numeric socket address (IPv4 or IPv6), built once from config and reused for every
// connect.
#include <cstdint>
#include <string>
#include <string_view>

#include <sys/socket.h>

namespace haven::net {

class SocketAddress {
 public:
  SocketAddress() = default;
  // Parses a numeric IPv4/IPv6 literal; false when `host` is not one.
  bool assign(std::string_view host, std::uint16_t port);

  [[nodiscard]] const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  [[nodiscard]] socklen_t length() const { return length_; }
  [[nodiscard]] int family() const { return storage_.ss_family; }

  // The numeric host and the port of `address` (IPv4 or IPv6), without a system call.
  static bool describe(const sockaddr* address, std::string& host, std::uint16_t& port);

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

}  // namespace haven::net
