#pragma once
// Rewriting heads on their way through: hop-by-hop headers dropped, framing written by haven
// itself (never copied from the peer), forwarding headers added.
#include <cstdint>
#include <string>
#include <string_view>

#include "haven/http/message_head.hpp"

namespace haven::http {

struct RequestRewrite {
  std::string_view client_ip;      // appended to X-Forwarded-For
  std::string_view proto = "http"; // X-Forwarded-Proto
  std::string_view fallback_host;  // Host for HTTP/1.0 requests that sent none
};

// Appends the head to send upstream (always HTTP/1.1) to `out`.
void write_request_head(std::string& out, const MessageHead& request, const char* base,
                        const RequestRewrite& rewrite);

// How a response body travels to the client.
enum class ClientFraming : std::uint8_t {
  None,           // no body: lengths are copied as they are (HEAD, 304 keep their Content-Length)
  ContentLength,  // the server's length, validated by the parser
  Chunked,        // haven chunks it (chunked or read-until-close from the server, HTTP/1.1 client)
  UntilClose,     // HTTP/1.0 client: raw bytes, then haven closes the connection
};

struct ResponsePlan {
  ClientFraming framing = ClientFraming::None;
  bool keep_client_alive = true;
  bool relayable = true;  // false: the client cannot be given this response as it is (502)
};

// Decides framing and persistence for a final (non-1xx) response.
ResponsePlan plan_response(const MessageHead& response, bool client_http10, bool client_keep_alive);

// Appends the head to send to the client. For 101 "Upgrade: websocket" and "Connection: upgrade"
// are written; for other 1xx only end-to-end headers are copied.
void write_response_head(std::string& out, const MessageHead& response, const char* base,
                         const ResponsePlan& plan, bool client_http10);

// Appends every end-to-end field of `head` ("Name: value\r\n" each): no hop-by-hop field, none
// its Connection names, no framing.
void write_end_to_end_fields(std::string& out, const MessageHead& head, const char* base,
                             std::string_view also_skip = {});

// "1a2b\r\n"
void append_chunk_header(std::string& out, std::size_t size);

// Appends the head of the pre-built `response` to `out` with "NAME: VALUE" added as its last
// field, and returns the rest (the body), which the caller sends from `response` itself. A
// `response` without a complete head is appended whole (nothing is returned).
std::string_view append_head_with_field(std::string& out, std::string_view response, std::string_view name,
                                        std::string_view value);

// A token list header ("close, X-Foo") contains `token`, case-insensitively.
bool list_contains_token(std::string_view list, std::string_view token);

}  // namespace haven::http
