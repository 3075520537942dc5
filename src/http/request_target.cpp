#include "haven/http/request_target.hpp"

#include <array>
#include <cstdint>

#include "haven/http/header_kind.hpp"

namespace haven::http {

namespace {

enum TargetClass : std::uint8_t {
  kPathChar = 1,       // RFC 3986 pchar without '%' (checked apart) and '/', plus what browsers leave raw
  kQueryChar = 2,      // the path's and '?', plus what browsers leave raw in a query (WHATWG URL)
  kHexDigit = 4,
  kSchemeChar = 8,     // ALPHA / DIGIT / "+" / "-" / "."
  kAuthorityChar = 16, // reg-name, IPv4, bracketed IPv6 literal, port
};

constexpr std::array<std::uint8_t, 256> make_target_classes() {
  std::array<std::uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t classes = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    const bool unreserved = alpha || digit || c == '-' || c == '.' || c == '_' || c == '~';
    const bool sub_delim = c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' ||
                           c == '+' || c == ',' || c == ';' || c == '=';
    // Browsers send '[', ']' and '|' raw in paths, and also '{', '}', '^', '`', '\\' and a '%'
    // that starts no escape in queries (qs-style "filter[a]=1" above all); none of them ends or
    // splits a target, so refusing them would only break real pages. Space, controls, '"', '<',
    // '>', '#' and bytes >= 0x80 are never sent raw and stay refused.
    const bool browser_path = c == '[' || c == ']' || c == '|';
    if (unreserved || sub_delim || c == ':' || c == '@' || c == '/' || browser_path) classes |= kPathChar | kQueryChar;
    if (c == '?' || c == '{' || c == '}' || c == '^' || c == '`' || c == '\\' || c == '%') classes |= kQueryChar;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) classes |= kHexDigit;
    if (alpha || digit || c == '+' || c == '-' || c == '.') classes |= kSchemeChar;
    if (unreserved || sub_delim || c == ':' || c == '[' || c == ']') classes |= kAuthorityChar;
    table[static_cast<std::size_t>(c)] = classes;
  }
  return table;
}

constexpr auto kTargetClasses = make_target_classes();

bool has_class(char c, std::uint8_t target_class) {
  return (kTargetClasses[static_cast<unsigned char>(c)] & target_class) != 0;
}

const char* character_problem(char c) {
  if (c == '#') return "a fragment ('#')";
  return "a character that is never sent raw (space, control, quote, angle bracket or non-ASCII)";
}

// path-abempty [ "?" query ]. In the path every '%' starts an escape: servers that decode a path
// must all read it the same way.
const char* path_and_query_problem(std::string_view text) {
  const auto query_start = text.find('?');
  const auto path = text.substr(0, query_start);
  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '%') {
      if (i + 2 >= path.size()) return "an incomplete percent-escape";
      if (!has_class(path[i + 1], kHexDigit) || !has_class(path[i + 2], kHexDigit)) {
        return "an invalid percent-escape";
      }
      i += 2;
      continue;
    }
    if (c == '\\') return "a backslash in the path (some servers read it as '/')";
    if (!has_class(c, kPathChar)) return character_problem(c);
  }
  if (query_start == std::string_view::npos) return nullptr;
  for (const char c : text.substr(query_start + 1)) {
    if (!has_class(c, kQueryChar)) return character_problem(c);
  }
  return nullptr;
}

}  // namespace

std::string_view absolute_form_authority(std::string_view target) {
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0 || target[0] == '/') return {};
  const auto authority = target.substr(scheme_end + 3);
  return authority.substr(0, authority.find_first_of("/?#"));
}

TargetCheck check_request_target(std::string_view target, bool options) {
  if (target.empty()) return {TargetForm::Invalid, "an empty request target"};
  if (target == "*") {
    if (!options) return {TargetForm::Invalid, "\"*\" as the target of a method other than OPTIONS"};
    return {TargetForm::Asterisk, ""};
  }
  if (target[0] == '/') {
    if (const char* problem = path_and_query_problem(target)) return {TargetForm::Invalid, problem};
    return {TargetForm::Origin, ""};
  }
  // absolute-form: only the schemes a reverse proxy for web pages serves.
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) {
    return {TargetForm::Invalid, "a target that is neither a path nor an absolute URI"};
  }
  const auto scheme = target.substr(0, scheme_end);
  for (const char c : scheme) {
    if (!has_class(c, kSchemeChar)) return {TargetForm::Invalid, "an invalid URI scheme"};
  }
  if (!iequals(scheme, "http") && !iequals(scheme, "https")) {
    return {TargetForm::Invalid, "a URI scheme other than http or https"};
  }
  const auto authority = absolute_form_authority(target);
  if (authority.empty()) return {TargetForm::Invalid, "an absolute URI without a host"};
  for (const char c : authority) {
    // '@' would be userinfo, which RFC 9110 4.2.4 says to treat as an error: it hides the host.
    if (!has_class(c, kAuthorityChar)) return {TargetForm::Invalid, "an invalid authority in an absolute URI"};
  }
  const auto rest = target.substr(scheme_end + 3 + authority.size());
  if (!rest.empty() && rest[0] != '/' && rest[0] != '?') {
    return {TargetForm::Invalid, "a fragment or invalid character after the authority"};
  }
  if (const char* problem = path_and_query_problem(rest)) return {TargetForm::Invalid, problem};
  return {TargetForm::Absolute, ""};
}

}  // namespace haven::http
