#include "haven/fallback/error_responses.hpp"

#include <array>
#include <string>

#include <fmt/format.h>

namespace haven::fallback {

namespace {

struct ErrorPage {
  int status;
  const char* reason;
  const char* explanation;
  const char* extra_headers = "";
};

constexpr std::array kPages{
    ErrorPage{400, "Bad Request", "The request could not be understood and was not forwarded."},
    ErrorPage{408, "Request Timeout", "The request did not arrive in time."},
    ErrorPage{429, "Too Many Requests", "This address holds too many connections; close some and try again.",
              "Retry-After: 10\r\n"},
    ErrorPage{405, "Method Not Allowed", "Only GET and HEAD are served at this address.", "Allow: GET, HEAD\r\n"},
    ErrorPage{431, "Request Header Fields Too Large", "The request head is larger than this server accepts."},
    ErrorPage{501, "Not Implemented", "This request method is not served here."},
    ErrorPage{502, "Bad Gateway", "The server behind this proxy failed to answer properly."},
    ErrorPage{503, "Service Unavailable", "No server is available to answer this request right now."},
    ErrorPage{504, "Gateway Timeout", "The server behind this proxy did not answer in time."},
};

struct Rendered {
  std::string full;
  std::string head_only;
};

std::array<Rendered, kPages.size()> render_all() {
  std::array<Rendered, kPages.size()> out;
  for (std::size_t i = 0; i < kPages.size(); ++i) {
    const auto& page = kPages[i];
    const std::string body = fmt::format(
        "<!doctype html><html><head><title>{0} {1}</title></head><body><h1>{0} {1}</h1><p>{2}</p></body></html>\n",
        page.status, page.reason, page.explanation);
    const std::string head = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n"
        "Cache-Control: no-store\r\n{}Connection: close\r\n\r\n",
        page.status, page.reason, body.size(), page.extra_headers);
    out[i].full = head + body;
    out[i].head_only = head;
  }
  return out;
}

const Rendered& rendered(int status) {
  static const auto pages = render_all();
  std::size_t bad_gateway = 0;
  for (std::size_t i = 0; i < kPages.size(); ++i) {
    if (kPages[i].status == status) return pages[i];
    if (kPages[i].status == 502) bad_gateway = i;
  }
  return pages[bad_gateway];
}

}  // namespace

std::string_view error_response(int status) { return rendered(status).full; }
std::string_view error_response_head_only(int status) { return rendered(status).head_only; }

}  // namespace haven::fallback
