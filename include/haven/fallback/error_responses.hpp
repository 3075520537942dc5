#pragma once
// Responses haven writes itself, serialised once at start-up (architecture.md: pre-built).
#include <string_view>

namespace haven::fallback {

// A complete HTTP/1.1 response for `status` (400, 405, 408, 429, 431, 501, 502, 503, 504) that closes the
// connection; any other status gets the 502 response.
std::string_view error_response(int status);
// The same response without a body, for HEAD requests.
std::string_view error_response_head_only(int status);

}  // namespace haven::fallback
