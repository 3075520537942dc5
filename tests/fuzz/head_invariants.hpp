#pragma once
// What every head MessageParser hands to its sink must satisfy, whatever the bytes were: the
// promises the proxy builds on. Spans lie inside the bytes read so far, the limits hold, the
// header fields are what the strict checks let through, and the framing is one of its values and
// agrees with the length headers (the proxy writes framing itself from `framing` alone).
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "haven/http/method.hpp"

#include "haven/http/head_writer.hpp"
#include "haven/http/message_parser.hpp"
#include "require.hpp"

namespace haven::fuzz {

inline void require_span_within(http::Span span, std::size_t arrived) {
  require(span.offset <= arrived && span.length <= arrived - span.offset);
}

inline bool is_token_char(char c) {
  const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  return alnum || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

inline bool is_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return (byte < 0x20 && c != '\t') || byte == 0x7f;
}

// The bytes of the head the parser counted against max_head_bytes include at least these.
inline std::size_t counted_head_bytes(const http::MessageHead& head) {
  std::size_t bytes = head.target.length + head.reason.length;
  for (const auto& header : head.headers) bytes += header.name.length + header.value.length + 4;
  return bytes;
}

inline void check_fields(const http::MessageHead& head, const char* base, std::size_t arrived) {
  int hosts = 0;
  for (const auto& header : head.headers) {
    require_span_within(header.name, arrived);
    require_span_within(header.value, arrived);
    // A field line starts after a line end, which RFC 9112 (2.2) lets a recipient take to be a bare
    // LF but never a bare CR: where two parsers split lines differently, request smuggling begins.
    require(header.name.offset >= 1 && base[header.name.offset - 1] == '\n');
    const auto name = header.name.view(base);
    const auto value = header.value.view(base);
    require(!name.empty());
    for (const char c : name) require(is_token_char(c));
    for (const char c : value) require(!is_control(c));
    require(value.empty() || (value.back() != ' ' && value.back() != '\t'));
    // A name with '_' is dropped (underscores_in_headers = "drop", the default), never classified.
    require(header.kind == http::classify_header(name) ||
            (header.kind == http::HeaderKind::Dropped && name.find('_') != std::string_view::npos));
    if (header.kind == http::HeaderKind::Host) ++hosts;
  }
  require(head.host_count == hosts);
}

inline int count_headers(const http::MessageHead& head, http::HeaderKind kind) {
  int count = 0;
  for (const auto& header : head.headers) count += header.kind == kind ? 1 : 0;
  return count;
}

// Framing against the headers that announce it. `body_ruled_out`: a response that carries no
// body whatever its headers say (1xx, 204, 304, an answer to HEAD).
inline void check_framing(const http::MessageHead& head, const char* base, bool body_ruled_out) {
  using http::BodyFraming;
  const int lengths = count_headers(head, http::HeaderKind::ContentLength);
  const int codings = count_headers(head, http::HeaderKind::TransferEncoding);
  if (body_ruled_out) {
    // content_length may still hold what the headers announced; nothing reads it without a length framing.
    require(head.framing == BodyFraming::None);
    return;
  }
  if (head.framing != BodyFraming::ContentLength) require(head.content_length == 0);
  switch (head.framing) {
    case BodyFraming::None:
      require(lengths == 0 && codings == 0);
      break;
    case BodyFraming::ContentLength: {
      require(lengths == 1 && codings == 0);
      const http::Header* length = head.find(http::HeaderKind::ContentLength);
      require(length != nullptr);
      const auto value = length->value.view(base);
      std::uint64_t announced = 0;
      const auto parsed = std::from_chars(value.data(), value.data() + value.size(), announced);
      require(parsed.ec == std::errc() && parsed.ptr == value.data() + value.size());
      require(announced == head.content_length);
      break;
    }
    case BodyFraming::Chunked:
      require(codings >= 1 && lengths == 0);
      break;
    case BodyFraming::UntilClose:
      require(lengths == 0);
      break;
  }
}

inline void check_connection(const http::MessageHead& head, const char* base) {
  bool close = false;
  bool expect_continue = false;
  for (const auto& header : head.headers) {
    const auto value = header.value.view(base);
    if (header.kind == http::HeaderKind::Connection && http::list_contains_token(value, "close")) close = true;
    if (header.kind == http::HeaderKind::Expect && http::iequals(value, "100-continue")) expect_continue = true;
  }
  // The proxy reads Connection through list_contains_token, the parser through llhttp: they must
  // agree on "close".
  if (close) require(!head.keep_alive);
  require(head.expect_continue == expect_continue);
}

inline void check_request_head(const http::MessageHead& head, const http::ParseLimits& limits, const char* base,
                               std::size_t arrived) {
  require_span_within(head.target, arrived);
  // The target is forwarded as it came: whitespace or a control byte in it could split the request
  // line differently for the server than for haven's routing.
  for (const char c : head.target.view(base)) require(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
  require(head.headers.size() <= limits.max_headers);
  require(counted_head_bytes(head) <= limits.max_head_bytes);
  check_fields(head, base, arrived);
  require(head.version_major == 1 && head.version_minor <= 1);
  require(head.method != haven::http::Method::Connect);
  require(head.host_count <= 1);
  if (!head.is_http10()) require(head.host_count == 1);
  const auto target = head.target.view(base);
  require(!target.empty());
  require(target.front() == '/' || target == "*" || target.find("://") != std::string_view::npos);
  require(head.framing != http::BodyFraming::UntilClose);
  if (head.framing == http::BodyFraming::Chunked) require(!head.is_http10());
  check_framing(head, base, false);
  check_connection(head, base);
}

inline void check_response_head(const http::MessageHead& head, const http::ParseLimits& limits, const char* base,
                                std::size_t arrived, bool answers_head_request) {
  require_span_within(head.reason, arrived);
  // The reason phrase is copied to the client as it came.
  for (const char c : head.reason.view(base)) require(!is_control(c));
  require(head.headers.size() <= limits.max_headers);
  require(counted_head_bytes(head) <= limits.max_head_bytes);
  check_fields(head, base, arrived);
  require(head.version_major == 1 && head.version_minor <= 1);
  require(head.status >= 100 && head.status <= 599);
  if (head.upgrade) require(head.status == 101);
  const bool body_ruled_out =
      answers_head_request || head.status / 100 == 1 || head.status == 204 || head.status == 304;
  check_framing(head, base, body_ruled_out);
  // Without a length a final response runs until the server closes: never "no body".
  if (!body_ruled_out) require(head.framing != http::BodyFraming::None);
  check_connection(head, base);
}

}  // namespace haven::fuzz
