#include "haven/http/head_writer.hpp"

#include <charconv>

#include "haven/http/method.hpp"

#include "haven/http/field_chars.hpp"
#include "haven/http/request_target.hpp"

namespace haven::http {

namespace {

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, result.ptr);
}

// Copies every end-to-end header except those `skip_kind` names.
template <typename SkipKind>
void copy_end_to_end_headers(std::string& out, const MessageHead& head, const char* base, SkipKind skip_kind) {
  for (const auto& header : head.headers) {
    if (skip_kind(header.kind) || is_hop_by_hop_or_framing(header.kind)) continue;
    const auto name = header.name.view(base);
    if (head.connection.count != 0 && head.connection.names_field(name, base)) continue;
    append_header(out, name, header.value.view(base));
  }
}

// The server's own Transfer-Encoding list, every field joined: codings haven does not decode
// travel as they came.
void append_transfer_codings(std::string& out, const MessageHead& head, const char* base) {
  out.append("Transfer-Encoding: ");
  bool first = true;
  for (const auto& header : head.headers) {
    if (header.kind != HeaderKind::TransferEncoding || header.value.empty()) continue;
    if (!first) out.append(", ");
    out.append(header.value.view(base));
    first = false;
  }
  out.append("\r\n");
}

}  // namespace

void write_end_to_end_fields(std::string& out, const MessageHead& head, const char* base, std::string_view also_skip) {
  for (const auto& header : head.headers) {
    if (is_hop_by_hop_or_framing(header.kind)) continue;
    const auto name = header.name.view(base);
    if (head.connection.count != 0 && head.connection.names_field(name, base)) continue;
    if (!also_skip.empty() && iequals(name, also_skip)) continue;
    append_header(out, name, header.value.view(base));
  }
}

bool list_contains_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    if (iequals(trim_whitespace(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

void append_chunk_header(std::string& out, std::size_t size) {
  char digits[20];
  const auto result = std::to_chars(digits, digits + sizeof digits, size, 16);
  out.append(digits, result.ptr);
  out.append("\r\n");
}

void write_request_head(std::string& out, const MessageHead& request, const char* base,
                        const RequestRewrite& rewrite) {
  out.append(method_name(request.method));
  out.push_back(' ');
  out.append(request.target.view(base));
  out.append(" HTTP/1.1\r\n");

  copy_end_to_end_headers(out, request, base, [](HeaderKind kind) {
    return kind == HeaderKind::XForwardedFor || kind == HeaderKind::XForwardedProto;
  });
  if (request.host_count == 0) {
    // An HTTP/1.0 request may name its host only in an absolute-form target; that host is the
    // request's (RFC 9112 3.2.2), never the server's address.
    const auto authority = absolute_form_authority(request.target.view(base));
    const std::string_view host = authority.empty() ? rewrite.fallback_host : authority;
    if (!host.empty()) append_header(out, "Host", host);
  }

  switch (request.framing) {
    case BodyFraming::Chunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case BodyFraming::ContentLength:
      out.append("Content-Length: ");
      append_number(out, request.content_length);
      out.append("\r\n");
      break;
    default:
      break;
  }

  // Several X-Forwarded-For fields form one list; the client's address goes last.
  out.append("X-Forwarded-For: ");
  for (const auto& header : request.headers) {
    if (header.kind != HeaderKind::XForwardedFor) continue;
    out.append(header.value.view(base));
    out.append(", ");
  }
  out.append(rewrite.client_ip);
  out.append("\r\nX-Forwarded-Proto: ");
  out.append(rewrite.proto);
  out.append("\r\n");

  // The parser lets only WebSocket upgrades through; the server gets exactly that token.
  if (request.upgrade) out.append("Upgrade: websocket\r\nConnection: upgrade\r\n");
  out.append("\r\n");
}

ResponsePlan plan_response(const MessageHead& response, bool client_http10, bool client_keep_alive) {
  ResponsePlan plan;
  plan.keep_client_alive = client_keep_alive;
  switch (response.framing) {
    case BodyFraming::None:
      plan.framing = ClientFraming::None;
      break;
    case BodyFraming::ContentLength:
      plan.framing = ClientFraming::ContentLength;
      break;
    case BodyFraming::Chunked:
    case BodyFraming::UntilClose:
      if (response.transfer_codings) {
        // Codings haven does not decode cannot be sent to an HTTP/1.0 client at all (RFC 9112
        // 6.1); a final coding other than chunked is relayed close-delimited, as it came.
        plan.relayable = !client_http10;
        if (response.framing == BodyFraming::UntilClose) {
          plan.framing = ClientFraming::UntilClose;
          plan.keep_client_alive = false;
          break;
        }
      }
      // An HTTP/1.0 client cannot read chunks: its body ends when haven closes.
      if (client_http10) {
        plan.framing = ClientFraming::UntilClose;
        plan.keep_client_alive = false;
      } else {
        plan.framing = ClientFraming::Chunked;
      }
      break;
  }
  return plan;
}

void write_response_head(std::string& out, const MessageHead& response, const char* base,
                         const ResponsePlan& plan, bool client_http10) {
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<std::uint64_t>(response.status));
  out.push_back(' ');
  out.append(response.reason.view(base));
  out.append("\r\n");

  const bool informational = response.status / 100 == 1;
  copy_end_to_end_headers(out, response, base, [](HeaderKind) { return false; });
  if (response.status == 101) {
    // The parser lets only a switch to WebSocket through (whichever Upgrade field says so): the
    // client is told exactly that.
    out.append("Upgrade: websocket\r\nConnection: upgrade\r\n\r\n");
    return;
  }
  if (informational) {
    out.append("\r\n");
    return;
  }
  switch (plan.framing) {
    case ClientFraming::None:
      // HEAD and 304 announce the length of a body they do not carry; it is copied as is. A 204
      // has no length at all (RFC 9110 8.6).
      if (const Header* length = response.find(HeaderKind::ContentLength); length != nullptr && response.status != 204) {
        append_header(out, "Content-Length", length->value.view(base));
      }
      break;
    case ClientFraming::ContentLength:
      out.append("Content-Length: ");
      append_number(out, response.content_length);
      out.append("\r\n");
      break;
    case ClientFraming::Chunked:
      if (response.transfer_codings) {
        append_transfer_codings(out, response, base);  // ends in chunked: haven re-chunks
      } else {
        out.append("Transfer-Encoding: chunked\r\n");
      }
      break;
    case ClientFraming::UntilClose:
      if (response.transfer_codings) append_transfer_codings(out, response, base);
      break;
  }
  if (!plan.keep_client_alive) {
    out.append("Connection: close\r\n");
  } else if (client_http10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

std::string_view append_head_with_field(std::string& out, std::string_view response, std::string_view name,
                                        std::string_view value) {
  const std::size_t head_end = response.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    out.append(response);
    return {};
  }
  out.append(response.substr(0, head_end + 2));
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n\r\n");
  return response.substr(head_end + 4);
}

}  // namespace haven::http
