#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "haven/config/loader.hpp"

namespace haven::config {

namespace {

bool fail(std::string_view text, std::string_view reason, std::string& why) {
  why = fmt::format("bad address \"{}\": {}", text, reason);
  return false;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// RFC 1123 host names only; anything else is refused here instead of being handed to the resolver,
// which would accept oddities (or spend a DNS round trip) on obvious typos.
bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= host.size(); ++i) {
    if (i == host.size() || host[i] == '.') {
      const std::size_t length = i - label_start;
      if (length == 0 || length > 63) return false;
      if (host[label_start] == '-' || host[i - 1] == '-') return false;
      label_start = i + 1;
    } else if (!is_alnum(host[i]) && host[i] != '-') {
      return false;
    }
  }
  return true;
}

bool looks_numeric_ipv4(std::string_view host) {
  for (char c : host) {
    if (!is_digit(c) && c != '.') return false;
  }
  return true;
}

// The first address getaddrinfo returns, as a numeric literal. Names are resolved once, at load
// time, so a DNS change needs a reload; that keeps resolution off the request path.
bool resolve(const std::string& host, Address& out, std::string& reason) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &results);
  if (rc != 0 || results == nullptr) {
    reason = fmt::format("cannot resolve \"{}\" ({})", host, rc != 0 ? ::gai_strerror(rc) : "no address");
    return false;
  }
  // Copied out rather than cast: sockaddr has weaker alignment than the specific structs.
  std::array<char, INET6_ADDRSTRLEN> buffer{};
  const addrinfo& first = *results;
  bool converted = false;
  const bool ipv6 = first.ai_family == AF_INET6;
  if (first.ai_family == AF_INET && first.ai_addrlen >= sizeof(sockaddr_in)) {
    sockaddr_in v4{};
    std::memcpy(&v4, first.ai_addr, sizeof v4);
    converted = ::inet_ntop(AF_INET, &v4.sin_addr, buffer.data(), buffer.size()) != nullptr;
  } else if (ipv6 && first.ai_addrlen >= sizeof(sockaddr_in6)) {
    sockaddr_in6 v6{};
    std::memcpy(&v6, first.ai_addr, sizeof v6);
    converted = ::inet_ntop(AF_INET6, &v6.sin6_addr, buffer.data(), buffer.size()) != nullptr;
  }
  ::freeaddrinfo(results);
  if (!converted) {
    reason = fmt::format("cannot resolve \"{}\" (no IPv4 or IPv6 address)", host);
    return false;
  }
  out.host = buffer.data();
  out.is_ipv6 = ipv6;
  return true;
}

bool parse_port(std::string_view text, std::string_view digits, bool allow_zero, std::uint16_t& port,
                std::string& why) {
  if (digits.empty()) return fail(text, "missing port after \":\"", why);
  for (char c : digits) {
    if (!is_digit(c)) return fail(text, fmt::format("port \"{}\" is not a number", digits), why);
  }
  const int min = allow_zero ? 0 : 1;
  // More than five digits cannot be a port; checking the length first also avoids overflow.
  std::uint32_t value = 0;
  if (digits.size() <= 5) {
    for (char c : digits) value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (digits.size() > 5 || value > 65535 || static_cast<int>(value) < min) {
    return fail(text, fmt::format("port {} is out of range ({}-65535)", digits, min), why);
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

bool parse_any_address(std::string_view text, bool allow_zero_port, Address& out, std::string& why) {
  if (text.empty()) return fail(text, "empty", why);
  Address parsed;
  parsed.text = std::string(text);
  std::string_view host;
  std::string_view port;
  bool bracketed = false;
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return fail(text, "missing \"]\" after the IPv6 address", why);
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return fail(text, "missing \":port\"", why);
    if (rest.front() != ':') return fail(text, "expected \":port\" after \"]\"", why);
    port = rest.substr(1);
    bracketed = true;
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail(text, "missing \":port\"", why);
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail(text, "an IPv6 address must be written in brackets, as in \"[::1]:8080\"", why);
    }
  }
  if (host.empty()) return fail(text, "missing host before \":port\"", why);
  if (!parse_port(text, port, allow_zero_port, parsed.port, why)) return false;

  const std::string host_string(host);
  if (bracketed) {
    in6_addr probe{};
    if (::inet_pton(AF_INET6, host_string.c_str(), &probe) != 1) {
      return fail(text, fmt::format("\"{}\" is not an IPv6 address", host), why);
    }
    parsed.host = host_string;
    parsed.is_ipv6 = true;
  } else if (looks_numeric_ipv4(host)) {
    // Checked apart from names: the resolver would take "10.1" as 10.0.0.1, which nobody means.
    in_addr probe{};
    if (::inet_pton(AF_INET, host_string.c_str(), &probe) != 1) {
      return fail(text, fmt::format("\"{}\" is not an IPv4 address", host), why);
    }
    parsed.host = host_string;
  } else if (!is_host_name(host)) {
    return fail(text, fmt::format("\"{}\" is not a valid host name", host), why);
  } else {
    std::string reason;
    if (!resolve(host_string, parsed, reason)) return fail(text, reason, why);
  }
  out = std::move(parsed);
  return true;
}

}  // namespace

bool parse_address(std::string_view text, Address& out, std::string& why) {
  return parse_any_address(text, false, out, why);
}

bool parse_bind_address(std::string_view text, Address& out, std::string& why) {
  return parse_any_address(text, true, out, why);
}

}  // namespace haven::config
