#include "uri_syntax.hpp"

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
