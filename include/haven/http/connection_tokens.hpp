#pragma once
// The Connection header's tokens (RFC 9110 7.6.1), gathered once per head into a bounded set:
// the head writer asks "does Connection name this header?" per header, which must never turn a
// long token list into quadratic work.
#include <array>
#include <cstdint>
#include <string_view>

namespace haven::http {

struct MessageHead;

struct ConnectionTokens {
  // More distinct names than this is no real client: refused (400).
  static constexpr std::size_t kMax = 32;

  struct Token {
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
  };
  std::array<Token, kMax> names{};  // header names listed, without close/keep-alive/upgrade
  std::uint8_t count = 0;
  bool close = false;
  bool keep_alive = false;
  bool upgrade = false;

  void clear() { *this = ConnectionTokens{}; }
  // Whether the list names the header `name` (its bytes relative to `base` like the head's).
  [[nodiscard]] bool names_field(std::string_view name, const char* base) const;
};

// Fills head.connection from its Connection headers. Returns nullptr, or why the list is refused:
// a token that is not a token, more than kMax distinct names, or a name the proxy itself relies
// on (Host, Content-Length, Transfer-Encoding, X-Forwarded-*), which a peer could otherwise have
// stripped from what the next hop sees.
const char* gather_connection_tokens(MessageHead& head, const char* base);

}  // namespace haven::http
