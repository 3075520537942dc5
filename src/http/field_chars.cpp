#include "haven/http/field_chars.hpp"

#include <array>
#include <cstdint>

namespace haven::http {

namespace {

enum CharClass : std::uint8_t {
  kToken = 1,       // RFC 9110 tchar
  kFieldValue = 2,  // VCHAR, SP, HTAB, obs-text: anything else in a value is a control byte
  kHostChar = 4,    // reg-name, IP literal brackets, port
};

constexpr std::array<std::uint8_t, 256> make_char_classes() {
  std::array<std::uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t classes = 0;
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum || c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' || c == '+' ||
        c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~') {
      classes |= kToken;
    }
    if ((c >= 0x20 && c != 0x7f) || c == '\t') classes |= kFieldValue;
    if (alnum || c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '[' || c == ']' || c == '%' ||
        c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' ||
        c == ';' || c == '=') {
      classes |= kHostChar;
    }
    table[static_cast<std::size_t>(c)] = classes;
  }
  return table;
}

constexpr auto kCharClasses = make_char_classes();

bool all_of_class(std::string_view text, std::uint8_t char_class) {
  std::uint8_t all = char_class;
  for (const char c : text) all &= kCharClasses[static_cast<unsigned char>(c)];
  return all != 0;
}

}  // namespace

bool is_token(std::string_view text) { return !text.empty() && all_of_class(text, kToken); }
bool has_control_byte(std::string_view value) { return !all_of_class(value, kFieldValue); }
bool is_valid_host(std::string_view host) { return all_of_class(host, kHostChar); }

std::string_view trim_whitespace(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace haven::http
