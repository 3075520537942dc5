#pragma once
// Which requests may be answered from a last-good copy, and which answers may be kept as one
// (stale_if_error). Pure: heads in, verdicts out, so every rule is tested alone.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "haven/http/message_head.hpp"

namespace haven::proxy {

enum class StaleRequest : std::uint8_t {
  Eligible,
  Method,         // not GET (kept, or answered) or HEAD (answered only)
  Authorization,  // a personal answer: never shared with another client
  Path,           // outside the backend's `paths`
};

// `storing`: the answer to this request would be kept (GET only); otherwise it would be answered
// from a copy (GET or HEAD).
StaleRequest stale_request_verdict(const http::MessageHead& request, const char* base,
                                   std::span<const std::string> paths, bool storing);

enum class StaleResponse : std::uint8_t {
  Keep,
  Status,        // not 200
  SetCookie,     // a personal answer
  Private,       // Cache-Control: private or no-store
  VaryAll,       // Vary: * (no request can be said to match it)
  TooLarge,      // Content-Length over max_entry
  Codings,       // transfer codings haven does not decode
  Personal,      // the request carried a Cookie and the answer does not say it is public
};

// Whether the server's answer may be kept; on Keep, `vary_names` gets its Vary field names in
// lower case. `request_cookie`: the request carried a Cookie, so the answer may be that
// visitor's own unless it says otherwise (Cache-Control: public or s-maxage).
StaleResponse stale_response_verdict(const http::MessageHead& response, const char* base, std::uint64_t max_entry,
                                     std::vector<std::string>& vary_names, bool request_cookie = false);

// The key a copy is kept under: the request's Host and target ("host /path?query").
void stale_key(std::string& out, const http::MessageHead& request, const char* base);

// The request's value of field `name` (the first one), "" when absent: what Vary compares.
std::string_view request_field(const http::MessageHead& request, const char* base, std::string_view name);

}  // namespace haven::proxy
