#pragma once
// Character classes of header fields (RFC 9110 5.1, 5.5), one table lookup per byte.
#include <string_view>

namespace haven::http {

// tchar only, not empty: what a field name, a Connection or Transfer-Encoding token is made of.
bool is_token(std::string_view text);
// A byte a field value may not hold (CR, LF, NUL and the other controls but tab).
bool has_control_byte(std::string_view value);
// reg-name, IP literal brackets and port: a Host that two parsers cannot read as two hosts.
bool is_valid_host(std::string_view host);
// Without the spaces and tabs around it (optional whitespace, RFC 9110 5.6.3).
std::string_view trim_whitespace(std::string_view text);

}  // namespace haven::http
