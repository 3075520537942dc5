#include "haven/http/message_parser.hpp"

#include <llhttp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "haven/http/field_chars.hpp"
#include "haven/http/head_writer.hpp"
#include "haven/http/request_target.hpp"
#include "haven/http/transfer_coding.hpp"

namespace haven::http {

namespace {

MessageParser& self(llhttp_t* parser) { return *static_cast<MessageParser*>(parser->data); }

static_assert(kSinkPause == HPE_PAUSED);

bool lists_websocket(const MessageHead& head, const char* base) {
  for (const auto& header : head.headers) {
    if (header.kind == HeaderKind::Upgrade && list_contains_token(header.value.view(base), "websocket")) return true;
  }
  return false;
}

// Where the last span of the head read so far ends: only line ends follow it.
std::uint32_t last_span_end(const MessageHead& head) {
  std::uint32_t end = std::max(head.target.offset + head.target.length, head.reason.offset + head.reason.length);
  for (const auto& header : head.headers) {
    end = std::max({end, header.name.offset + header.name.length, header.value.offset + header.value.length});
  }
  return end;
}

}  // namespace

struct MessageParser::Callbacks {
  static int on_message_begin_cb(llhttp_t* parser) noexcept;
  static int on_url_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept;
  static int on_status_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept;
  static int on_header_field_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept;
  static int on_header_value_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept;
  static int on_header_value_complete_cb(llhttp_t* parser) noexcept;
  static int on_headers_complete_cb(llhttp_t* parser) noexcept;
  static int on_body_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept;
  static int on_message_complete_cb(llhttp_t* parser) noexcept;
  static int on_chunk_extension_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept;
  static int on_chunk_complete_cb(llhttp_t* parser) noexcept;
  static const llhttp_settings_t& settings();
  static llhttp_t& state(MessageParser& parser) {
    static_assert(sizeof(llhttp_t) <= kParserStateSize && alignof(llhttp_t) <= 16);
    return *reinterpret_cast<llhttp_t*>(parser.parser_state_);
  }
};

const llhttp_settings_t& MessageParser::Callbacks::settings() {
  static const llhttp_settings_t instance = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &Callbacks::on_message_begin_cb;
    s.on_url = &Callbacks::on_url_cb;
    s.on_status = &Callbacks::on_status_cb;
    s.on_header_field = &Callbacks::on_header_field_cb;
    s.on_header_value = &Callbacks::on_header_value_cb;
    s.on_header_value_complete = &Callbacks::on_header_value_complete_cb;
    s.on_headers_complete = &Callbacks::on_headers_complete_cb;
    s.on_body = &Callbacks::on_body_cb;
    s.on_message_complete = &Callbacks::on_message_complete_cb;
    s.on_chunk_extension_name = &Callbacks::on_chunk_extension_cb;
    s.on_chunk_extension_value = &Callbacks::on_chunk_extension_cb;
    s.on_chunk_complete = &Callbacks::on_chunk_complete_cb;
    return s;
  }();
  return instance;
}

MessageParser::MessageParser(MessageKind kind, MessageSink& sink) : sink_(&sink), kind_(kind) { reset(); }

void MessageParser::reset() {
  llhttp_t& llhttp = Callbacks::state(*this);
  llhttp_init(&llhttp, kind_ == MessageKind::Request ? HTTP_REQUEST : HTTP_RESPONSE, &Callbacks::settings());
  llhttp.data = this;
  failure_ = ParseFailure::None;
  failure_reason_ = "";
  head_ = nullptr;
  in_message_ = false;
  head_complete_ = false;
  body_started_ = false;
  skip_body_ = false;
  internal_pause_ = InternalPause::None;
  cr_pending_ = false;
}

int MessageParser::fail(ParseFailure failure, const char* reason) {
  if (failure_ == ParseFailure::None) {
    failure_ = failure;
    failure_reason_ = reason;
  }
  return -1;
}

bool MessageParser::count_head_bytes(std::size_t length) {
  head_bytes_ += static_cast<std::uint32_t>(length);
  return head_bytes_ <= limits_.max_head_bytes;
}

bool MessageParser::framing_has_bare_cr(const char* from, const char* to) {
  if (from >= to) return false;
  if (std::exchange(cr_pending_, false) && *from != '\n') return true;
  for (const char* cr = from; cr < to; ++cr) {
    cr = static_cast<const char*>(std::memchr(cr, '\r', static_cast<std::size_t>(to - cr)));
    if (cr == nullptr) return false;
    if (cr + 1 == to) {
      cr_pending_ = true;  // decided by the next byte, in the next call
      return false;
    }
    if (cr[1] != '\n') return true;
  }
  return false;
}

ExecuteResult MessageParser::execute(const char* base, const char* data, std::size_t length) {
  llhttp_t& llhttp = Callbacks::state(*this);
  base_ = base;
  const char* const end = data + length;
  const char* position = data;
  framing_from_ = data;
  for (;;) {
    const llhttp_errno_t err = llhttp_execute(&llhttp, position, static_cast<std::size_t>(end - position));
    const char* const stop = err == HPE_OK ? end : llhttp_get_error_pos(&llhttp);
    if (err != HPE_OK && err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
      fail(ParseFailure::Malformed, llhttp_get_error_reason(&llhttp));
      return {ExecuteStatus::Error, 0};
    }
    // llhttp 8.1.0 takes a lone CR for a line end; a peer behind haven may not, and would see
    // other messages in the same bytes (request smuggling).
    if (framing_has_bare_cr(framing_from_, stop)) {
      fail(ParseFailure::Malformed, "a CR not followed by LF in the head or chunk framing");
      return {ExecuteStatus::Error, 0};
    }
    framing_from_ = stop;
    const auto consumed = static_cast<std::size_t>(stop - data);
    if (err == HPE_OK) return {ExecuteStatus::Done, length};
    if (err == HPE_PAUSED_UPGRADE) return {ExecuteStatus::Upgrade, consumed};
    const InternalPause pause = std::exchange(internal_pause_, InternalPause::None);
    if (pause == InternalPause::None) return {ExecuteStatus::Paused, consumed};
    const int rc = pause == InternalPause::HeadComplete ? deliver_head() : sink_->on_message_complete();
    if (rc == HPE_PAUSED) return {ExecuteStatus::Paused, consumed};
    if (rc != 0) {
      fail(ParseFailure::Malformed, kind_ == MessageKind::Request ? "request refused" : "response refused");
      return {ExecuteStatus::Error, 0};
    }
    llhttp_resume(&llhttp);
    position = stop;
  }
}

int MessageParser::deliver_head() {
  int rc = sink_->on_head(*head_);
  // Responses to HEAD, 1xx, 204 and 304 may announce a length but carry no body; llhttp only
  // knows that when told.
  if (rc == 1 || (kind_ == MessageKind::Response && head_->framing == BodyFraming::None)) {
    Callbacks::state(*this).flags |= F_SKIPBODY;
    if (rc == 1) rc = 0;
  }
  return rc;
}

void MessageParser::resume() { llhttp_resume(&Callbacks::state(*this)); }

ExecuteResult MessageParser::finish() {
  const llhttp_errno_t err = llhttp_finish(&Callbacks::state(*this));
  if (err == HPE_PAUSED && std::exchange(internal_pause_, InternalPause::None) == InternalPause::MessageComplete) {
    sink_->on_message_complete();  // a read-until-close body ends here; nothing can follow it
    return {ExecuteStatus::Done, 0};
  }
  if (err == HPE_OK || err == HPE_PAUSED) return {ExecuteStatus::Done, 0};
  fail(ParseFailure::Malformed, "the peer closed the connection in the middle of a message");
  return {ExecuteStatus::Error, 0};
}

int MessageParser::Callbacks::on_message_begin_cb(llhttp_t* parser) noexcept {
  auto& p = self(parser);
  p.head_ = &p.sink_->on_message_begin();
  p.head_->clear();
  p.in_message_ = true;
  p.head_complete_ = false;
  p.body_started_ = false;
  p.field_open_ = false;
  p.head_bytes_ = 0;
  p.chunk_extension_bytes_ = 0;
  return 0;
}

int MessageParser::Callbacks::on_url_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept {
  auto& p = self(parser);
  if (!p.count_head_bytes(length)) return p.fail(ParseFailure::TooLarge, "request line too long");
  if (p.head_->target.length == 0) p.head_->target.offset = static_cast<std::uint32_t>(at - p.base_);
  p.head_->target.length += static_cast<std::uint32_t>(length);
  return 0;
}

int MessageParser::Callbacks::on_status_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept {
  auto& p = self(parser);
  if (!p.count_head_bytes(length)) return p.fail(ParseFailure::TooLarge, "status line too long");
  if (p.head_->reason.length == 0) p.head_->reason.offset = static_cast<std::uint32_t>(at - p.base_);
  p.head_->reason.length += static_cast<std::uint32_t>(length);
  return 0;
}

int MessageParser::Callbacks::on_header_field_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept {
  auto& p = self(parser);
  if (!p.count_head_bytes(length)) return p.fail(ParseFailure::TooLarge, "header section too large");
  if (p.head_complete_) return 0;  // trailer fields: counted, never forwarded
  auto& headers = p.head_->headers;
  if (!p.field_open_) {
    if (headers.size() >= p.limits_.max_headers) return p.fail(ParseFailure::TooLarge, "too many header fields");
    headers.push_back(Header{{static_cast<std::uint32_t>(at - p.base_), 0}, {}, HeaderKind::Other});
    p.field_open_ = true;
  }
  headers.back().name.length += static_cast<std::uint32_t>(length);
  return 0;
}

int MessageParser::Callbacks::on_header_value_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept {
  auto& p = self(parser);
  if (!p.count_head_bytes(length)) return p.fail(ParseFailure::TooLarge, "header section too large");
  if (p.head_complete_) return 0;
  auto& value = p.head_->headers.back().value;
  if (value.length == 0) value.offset = static_cast<std::uint32_t>(at - p.base_);
  value.length += static_cast<std::uint32_t>(length);
  return 0;
}

int MessageParser::Callbacks::on_header_value_complete_cb(llhttp_t* parser) noexcept {
  auto& p = self(parser);
  // ": " and CRLF around every field count towards the limit like the bytes on the wire.
  if (!p.count_head_bytes(4)) return p.fail(ParseFailure::TooLarge, "header section too large");
  if (p.head_complete_) return 0;
  p.field_open_ = false;
  auto& header = p.head_->headers.back();
  if (header.name.length == 0) return p.fail(ParseFailure::Malformed, "empty header name");
  const auto name = header.name.view(p.base_);
  if (!is_token(name)) return p.fail(ParseFailure::Malformed, "invalid header name");
  // llhttp keeps trailing whitespace in values; it is not part of the value (RFC 9110 5.5).
  while (header.value.length > 0) {
    const char last = p.base_[header.value.offset + header.value.length - 1];
    if (last != ' ' && last != '\t') break;
    --header.value.length;
  }
  // llhttp refuses most control bytes in values but lets an obs-fold through with its CR LF
  // inside the value: every control byte is refused here.
  const auto value = header.value.view(p.base_);
  if (has_control_byte(value)) return p.fail(ParseFailure::Malformed, "control character in a header value");
  if (p.kind_ == MessageKind::Request && p.limits_.underscores != UnderscoreHeaders::Allow &&
      name.find('_') != std::string_view::npos) {
    if (p.limits_.underscores == UnderscoreHeaders::Reject) {
      return p.fail(ParseFailure::Malformed, "header name with an underscore");
    }
    header.kind = HeaderKind::Dropped;
    ++p.head_->dropped_headers;
    return 0;
  }
  header.kind = classify_header(name);
  if (header.kind == HeaderKind::Host) ++p.head_->host_count;
  if (header.kind == HeaderKind::Expect && iequals(value, "100-continue")) p.head_->expect_continue = true;
  return 0;
}

int MessageParser::validate_request_head() {
  auto& head = *head_;
  llhttp_t& llhttp = Callbacks::state(*this);
  if (head.version_major != 1 || head.version_minor > 1) {
    return fail(ParseFailure::Malformed, "only HTTP/1.0 and HTTP/1.1 are accepted");
  }
  if (head.method == Method::Connect) return fail(ParseFailure::NotImplemented, "CONNECT is not served");
  if (head.host_count > 1) return fail(ParseFailure::Malformed, "more than one Host header");
  if (head.host_count == 0 && !head.is_http10()) return fail(ParseFailure::Malformed, "HTTP/1.1 request without Host");
  if ((llhttp.flags & F_TRANSFER_ENCODING) != 0 && head.is_http10()) {
    return fail(ParseFailure::Malformed, "Transfer-Encoding in an HTTP/1.0 request");
  }
  const auto target = head.target.view(base_);
  const TargetCheck checked = check_request_target(target, head.method == Method::Options);
  if (checked.form == TargetForm::Invalid) return fail(ParseFailure::Malformed, checked.problem);
  if (const Header* host = head.find(HeaderKind::Host)) {
    const auto host_value = host->value.view(base_);
    if (!is_valid_host(host_value)) return fail(ParseFailure::Malformed, "invalid Host header");
    if (checked.form == TargetForm::Absolute && !iequals(absolute_form_authority(target), host_value)) {
      return fail(ParseFailure::Malformed, "Host header conflicts with the request target");
    }
  }
  // Only WebSocket is ever tunnelled: any other upgrade (h2c above all) would carry requests past
  // every rule haven applies to paths. Such a request goes on as a plain one, its Upgrade and
  // HTTP2-Settings dropped as hop-by-hop fields.
  if (llhttp.upgrade != 0 && !lists_websocket(head, base_)) llhttp.upgrade = 0;
  return 0;
}

int MessageParser::validate_framing_lists() {
  auto& head = *head_;
  if (const char* problem = gather_connection_tokens(head, base_)) return fail(ParseFailure::Malformed, problem);
  const bool llhttp_chunked = (Callbacks::state(*this).flags & F_CHUNKED) != 0;
  const CodingList codings = classify_transfer_codings(head, base_);
  switch (codings) {
    case CodingList::None:
    case CodingList::Chunked:
      break;
    case CodingList::Invalid:
      return fail(ParseFailure::Malformed, "invalid Transfer-Encoding");
    case CodingList::ChunkedAfterOthers:
    case CodingList::OtherLast:
      // haven decodes nothing but chunked; a server cannot be trusted to read the rest alike.
      if (kind_ == MessageKind::Request) {
        return fail(ParseFailure::NotImplemented, "transfer codings other than chunked are not supported");
      }
      head.transfer_codings = true;
      break;
  }
  // Both readings must agree on where the body ends.
  const bool chunked = codings == CodingList::Chunked || codings == CodingList::ChunkedAfterOthers;
  if (chunked != llhttp_chunked) return fail(ParseFailure::Malformed, "ambiguous Transfer-Encoding");
  return 0;
}

int MessageParser::validate_head() {
  llhttp_t& llhttp = Callbacks::state(*this);
  auto& head = *head_;
  // A bare CR is reported as such before any other rule, however the head was cut into reads (the
  // few bytes after the last span are checked once llhttp has paused at the head's end).
  if (const char* checked_to = base_ + last_span_end(head); checked_to > framing_from_) {
    if (framing_has_bare_cr(framing_from_, checked_to)) {
      return fail(ParseFailure::Malformed, "a CR not followed by LF in the head or chunk framing");
    }
    framing_from_ = checked_to;
  }
  head.version_major = llhttp_get_http_major(&llhttp);
  head.version_minor = llhttp_get_http_minor(&llhttp);
  head.method = static_cast<Method>(llhttp_get_method(&llhttp));
  head.status = llhttp_get_status_code(&llhttp);
  if (kind_ == MessageKind::Request) {
    if (const int rc = validate_request_head(); rc != 0) return rc;
  } else {
    if (head.version_major != 1 || head.version_minor > 1) {
      return fail(ParseFailure::Malformed, "response is not HTTP/1.0 or HTTP/1.1");
    }
    if (head.status < 100 || head.status > 599) return fail(ParseFailure::Malformed, "status code out of range");
    // A control byte in the reason phrase is read differently by different clients.
    if (has_control_byte(head.reason.view(base_))) return fail(ParseFailure::Malformed, "control character in the reason phrase");
    if (head.status == 101 && !lists_websocket(head, base_)) {
      return fail(ParseFailure::Malformed, "switching to a protocol other than WebSocket");
    }
    // Without "Connection: upgrade" llhttp would read the new protocol's bytes as HTTP while the
    // proxy tunnels them: both must agree that the protocol changes.
    if (head.status == 101 && llhttp.upgrade == 0) {
      return fail(ParseFailure::Malformed, "101 Switching Protocols without Connection: upgrade");
    }
  }
  if (const int rc = validate_framing_lists(); rc != 0) return rc;
  // llhttp misses "close" with whitespace around it ("close\t"); the gathered tokens do not.
  head.keep_alive = llhttp_should_keep_alive(&llhttp) != 0 && !head.connection.close;
  head.upgrade = llhttp.upgrade != 0;
  if ((llhttp.flags & F_CHUNKED) != 0) {
    head.framing = BodyFraming::Chunked;
  } else if ((llhttp.flags & F_CONTENT_LENGTH) != 0) {
    // Content-Length: 0 stays explicit: a POST without it may get 411 from the server.
    head.framing = BodyFraming::ContentLength;
    head.content_length = llhttp.content_length;
  } else if (kind_ == MessageKind::Response && !skip_body_ && llhttp_message_needs_eof(&llhttp) != 0) {
    head.framing = BodyFraming::UntilClose;
  }
  if (kind_ == MessageKind::Response && (skip_body_ || head.status / 100 == 1 || head.status == 204 ||
                                         head.status == 304)) {
    head.framing = BodyFraming::None;
  }
  return 0;
}

int MessageParser::Callbacks::on_headers_complete_cb(llhttp_t* parser) noexcept {
  auto& p = self(parser);
  if (p.validate_head() != 0) return -1;
  p.head_complete_ = true;
  p.internal_pause_ = InternalPause::HeadComplete;
  return HPE_PAUSED;
}

int MessageParser::Callbacks::on_body_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept {
  // llhttp flushes an open span at the end of every execute(), also an empty one; an empty
  // piece would become a terminating chunk once re-chunked.
  if (length == 0) return 0;
  auto& p = self(parser);
  // Every byte before the content is framing (head, chunk-size line, CRLF after a chunk).
  if (p.framing_has_bare_cr(p.framing_from_, at) || p.cr_pending_) {
    return p.fail(ParseFailure::Malformed, "a CR not followed by LF in the head or chunk framing");
  }
  p.framing_from_ = at + length;
  p.body_started_ = true;
  p.sink_->on_body(at, length);
  return 0;
}

int MessageParser::Callbacks::on_message_complete_cb(llhttp_t* parser) noexcept {
  auto& p = self(parser);
  p.in_message_ = false;
  p.internal_pause_ = InternalPause::MessageComplete;
  return HPE_PAUSED;
}

int MessageParser::Callbacks::on_chunk_extension_cb(llhttp_t* parser, const char* /*at*/, std::size_t length) noexcept {
  auto& p = self(parser);
  p.chunk_extension_bytes_ += static_cast<std::uint32_t>(length);
  if (p.chunk_extension_bytes_ > p.limits_.max_chunk_extension_bytes) {
    return p.fail(ParseFailure::Malformed, "chunk extension too long");
  }
  return 0;
}

int MessageParser::Callbacks::on_chunk_complete_cb(llhttp_t* parser) noexcept {
  self(parser).chunk_extension_bytes_ = 0;
  return 0;
}

}  // namespace haven::http
