#pragma once
// RFC 3986 syntax for the values haven puts into requests and pages: a health check's request
// target and Host, the URLs the maintenance page polls. Checked at load time because a space, CR or
// LF in them would otherwise end up in a request head, or in a URL a browser reads differently.
#include <string>
#include <string_view>

namespace haven::config::detail {

// Whether `target` is an origin-form request target (an absolute path, then optionally "?" and a
// query) made of RFC 3986 characters, percent-encodings being complete. Precondition: `target`
// starts with "/" (callers refuse anything else with their own message). Otherwise `why` says what
// is wrong, quoting `target`: "\"/a b\" contains a space".
bool check_origin_form(std::string_view target, std::string& why);

// Whether `text` is a Host header value: a registered name (RFC 3986 reg-name), an IPv4 address or
// a bracketed IPv6 address, optionally followed by ":port". Otherwise `why` says what is wrong,
// quoting `text`.
bool check_host_and_port(std::string_view text, std::string& why);

// `value` between double quotes, escaped as in a TOML basic string, so that a message shows control
// characters as the operator would write them instead of breaking the line it is printed on.
std::string toml_quoted(std::string_view value);

}  // namespace haven::config::detail
