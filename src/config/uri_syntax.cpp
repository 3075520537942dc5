#include "uri_syntax.hpp"

#include <arpa/inet.h>

#include <fmt/format.h>

namespace haven::config::detail {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_hex_digit(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool is_unreserved(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

bool is_sub_delim(char c) { return std::string_view("!$&'()*+,;=").find(c) != std::string_view::npos; }

// pchar, "/" and "?": everything a path and query may hold besides percent-encodings.
bool is_path_or_query_char(char c) {
  return is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@' || c == '/' || c == '?';
}

std::string describe(char c) {
  const auto byte = static_cast<unsigned char>(c);
  switch (c) {
    case ' ': return "a space";
    case '\t': return "a tab";
    case '\r': return "a carriage return";
    case '\n': return "a line feed";
    case '\\': return "a backslash";
    case '"': return "a double quote";
    default: break;
  }
  if (byte < 0x20 || byte == 0x7f) return fmt::format("the control byte 0x{:02X}", byte);
  if (byte >= 0x80) return fmt::format("the non-ASCII byte 0x{:02X} (percent-encode it)", byte);
  return fmt::format("\"{}\"", c);
}

// Checks every character of `part` against `allowed`, "%" being allowed as the start of a complete
// percent-encoding. `whole` is what `why` quotes.
template <typename Allowed>
bool check_chars(std::string_view whole, std::string_view part, Allowed allowed, std::string& why) {
  for (std::size_t i = 0; i < part.size(); ++i) {
    if (part[i] == '%') {
      if (i + 2 < part.size() && is_hex_digit(part[i + 1]) && is_hex_digit(part[i + 2])) {
        i += 2;
        continue;
      }
      why = fmt::format("{} has a \"%\" that is not followed by two hex digits", toml_quoted(whole));
      return false;
    }
    if (!allowed(part[i])) {
      why = fmt::format("{} contains {}", toml_quoted(whole), describe(part[i]));
      return false;
    }
  }
  return true;
}

}  // namespace

bool check_origin_form(std::string_view target, std::string& why) {
  return check_chars(target, target, is_path_or_query_char, why);
}

bool check_host_and_port(std::string_view text, std::string& why) {
  std::string_view host = text;
  std::string_view port;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      why = fmt::format("{} has no \"]\" after the IPv6 address", toml_quoted(text));
      return false;
    }
    host = text.substr(0, close + 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      why = fmt::format("{} has {} after \"]\" instead of \":port\"", toml_quoted(text), describe(rest.front()));
      return false;
    }
    has_port = !rest.empty();
    if (has_port) port = rest.substr(1);
    const std::string address(host.substr(1, host.size() - 2));
    in6_addr probe{};
    if (::inet_pton(AF_INET6, address.c_str(), &probe) != 1) {
      why = fmt::format("{} is not an IPv6 address", toml_quoted(host));
      return false;
    }
  } else {
    const std::size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      why = fmt::format("{} is not a host and port (an IPv6 address must be written in brackets, as in \"[::1]:8080\")",
                        toml_quoted(text));
      return false;
    }
    if (colon != std::string_view::npos) {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) {
      why = fmt::format("{} has no host before \":\"", toml_quoted(text));
      return false;
    }
    // reg-name covers IPv4 addresses too: they are made of digits and dots.
    const auto is_reg_name_char = [](char c) { return is_unreserved(c) || is_sub_delim(c); };
    if (!check_chars(text, host, is_reg_name_char, why)) return false;
  }
  if (!has_port) return true;
  if (port.empty()) {
    why = fmt::format("{} has no port after \":\"", toml_quoted(text));
    return false;
  }
  // More than five digits cannot be a port; checking the length first also avoids overflow.
  bool digits = port.size() <= 5;
  unsigned value = 0;
  for (char c : port) {
    digits = digits && is_digit(c);
    if (digits) value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (!digits || value > 65535) {
    why = fmt::format("{} has the port {}, which is not a number from 0 to 65535", toml_quoted(text),
                      toml_quoted(port));
    return false;
  }
  return true;
}

std::string toml_quoted(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          out += fmt::format("\\u{:04X}", byte);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace haven::config::detail
