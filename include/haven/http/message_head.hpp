#pragma once
// A parsed request or response head. Names, values and the target are spans into the
// connection's read buffer (offsets, so the buffer may grow without invalidating them).
#include <cstdint>
#include <string_view>
#include <vector>

#include "haven/http/connection_tokens.hpp"
#include "haven/http/header_kind.hpp"
#include "haven/http/method.hpp"

namespace haven::http {

struct Span {
  std::uint32_t offset = 0;
  std::uint32_t length = 0;

  [[nodiscard]] std::string_view view(const char* base) const { return {base + offset, length}; }
  [[nodiscard]] bool empty() const { return length == 0; }
};

struct Header {
  Span name;
  Span value;
  HeaderKind kind = HeaderKind::Other;
};

enum class BodyFraming : std::uint8_t {
  None,           // no body at all (GET without length, 204, 304, 1xx, response to HEAD)
  ContentLength,  // exactly content_length bytes
  Chunked,        // chunked transfer coding
  UntilClose,     // responses only: the body ends when the server closes
};

struct MessageHead {
  // Request line.
  Method method{};
  Span target;
  // Status line.
  int status = 0;
  Span reason;

  std::uint8_t version_major = 1;
  std::uint8_t version_minor = 1;
  std::vector<Header> headers;
  int host_count = 0;
  BodyFraming framing = BodyFraming::None;
  std::uint64_t content_length = 0;
  bool keep_alive = true;      // what the peer asked for (HTTP version and Connection)
  bool upgrade = false;        // an upgrade (WebSocket) request, or a 101 response to one
  bool expect_continue = false;
  // Responses: Transfer-Encoding lists codings other than (or before) chunked; they are relayed
  // as the server wrote them, never decoded and never lost.
  bool transfer_codings = false;
  std::uint16_t dropped_headers = 0;  // names with '_' left out (underscores_in_headers = "drop")
  ConnectionTokens connection;

  void clear() {
    method = Method{};
    target = {};
    status = 0;
    reason = {};
    version_major = version_minor = 1;
    headers.clear();
    host_count = 0;
    framing = BodyFraming::None;
    content_length = 0;
    keep_alive = true;
    upgrade = false;
    expect_continue = false;
    transfer_codings = false;
    dropped_headers = 0;
    connection.clear();
  }

  [[nodiscard]] bool is_http10() const { return version_major == 1 && version_minor == 0; }
  [[nodiscard]] const Header* find(HeaderKind kind) const {
    for (const auto& header : headers) {
      if (header.kind == kind) return &header;
    }
    return nullptr;
  }
  // The first field named `name` (any case), for fields without a HeaderKind of their own.
  [[nodiscard]] const Header* find_named(std::string_view name, const char* base) const {
    for (const auto& header : headers) {
      if (iequals(header.name.view(base), name)) return &header;
    }
    return nullptr;
  }
};

}  // namespace haven::http
