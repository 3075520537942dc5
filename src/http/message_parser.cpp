#include "haven/http/message_parser.hpp"

#include <array>
#include <cstdint>

namespace haven::http {

namespace {

MessageParser& self(llhttp_t* parser) { return *static_cast<MessageParser*>(parser->data); }

// Character classes as one table, so checking a header is a load per byte, not a chain of
// comparisons.
enum CharClass : std::uint8_t {
  kToken = 1,       // RFC 9110 tchar: what a field name is made of
  kFieldValue = 2,  // VCHAR, SP, HTAB, obs-text: anything else in a value is a control byte
  kHostChar = 4,    // reg-name, IP literal brackets, port
};

constexpr std::array<std::uint8_t, 256> make_char_classes() {
  std::array<std::uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t classes = 0;
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum || c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' || c == '+' ||
        c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~') {
      classes |= kToken;
    }
    if ((c >= 0x20 && c != 0x7f) || c == '\t') classes |= kFieldValue;
    if (alnum || c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '[' || c == ']' || c == '%' ||
        c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' ||
        c == ';' || c == '=') {
      classes |= kHostChar;
    }
    table[static_cast<std::size_t>(c)] = classes;
  }
  return table;
}

constexpr auto kCharClasses = make_char_classes();

bool all_of_class(std::string_view text, std::uint8_t char_class) {
  std::uint8_t all = char_class;
  for (const char c : text) all &= kCharClasses[static_cast<unsigned char>(c)];
  return all != 0;
}

// A control byte in a value is read differently by different peers; a non-token byte in a name
// (a space before the colon above all) is how request smuggling starts; a Host outside the
// authority grammar could make two parsers see two different hosts.
bool has_control_byte(std::string_view value) { return !all_of_class(value, kFieldValue); }
bool is_token(std::string_view name) { return all_of_class(name, kToken); }
bool is_valid_host(std::string_view host) { return all_of_class(host, kHostChar); }

// The authority of an absolute-form target ("http://host:port/path"), or empty.
std::string_view absolute_form_authority(std::string_view target) {
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos || target.empty() || target[0] == '/') return {};
  const auto authority = target.substr(scheme_end + 3);
  return authority.substr(0, authority.find_first_of("/?#"));
}

}  // namespace

const llhttp_settings_t& MessageParser::settings() {
  static const llhttp_settings_t instance = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &MessageParser::on_message_begin_cb;
    s.on_url = &MessageParser::on_url_cb;
    s.on_status = &MessageParser::on_status_cb;
    s.on_header_field = &MessageParser::on_header_field_cb;
    s.on_header_value = &MessageParser::on_header_value_cb;
    s.on_header_value_complete = &MessageParser::on_header_value_complete_cb;
    s.on_headers_complete = &MessageParser::on_headers_complete_cb;
    s.on_body = &MessageParser::on_body_cb;
    s.on_message_complete = &MessageParser::on_message_complete_cb;
    s.on_chunk_extension_name = &MessageParser::on_chunk_extension_cb;
    s.on_chunk_extension_value = &MessageParser::on_chunk_extension_cb;
    s.on_chunk_complete = &MessageParser::on_chunk_complete_cb;
    return s;
  }();
  return instance;
}

MessageParser::MessageParser(MessageKind kind, MessageSink& sink) : sink_(&sink), kind_(kind) { reset(); }

void MessageParser::reset() {
  llhttp_init(&parser_, kind_ == MessageKind::Request ? HTTP_REQUEST : HTTP_RESPONSE, &settings());
  parser_.data = this;
  failure_ = ParseFailure::None;
  failure_reason_ = "";
  head_ = nullptr;
  in_message_ = false;
  head_complete_ = false;
  body_started_ = false;
  skip_body_ = false;
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

ExecuteResult MessageParser::execute(const char* base, const char* data, std::size_t length) {
  base_ = base;
  const llhttp_errno_t err = llhttp_execute(&parser_, data, length);
  switch (err) {
    case HPE_OK:
      return {ExecuteStatus::Done, length};
    case HPE_PAUSED:
      return {ExecuteStatus::Paused, static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - data)};
    case HPE_PAUSED_UPGRADE:
      return {ExecuteStatus::Upgrade, static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - data)};
    default:
      fail(ParseFailure::Malformed, llhttp_get_error_reason(&parser_));
      return {ExecuteStatus::Error, 0};
  }
}

ExecuteResult MessageParser::finish() {
  const llhttp_errno_t err = llhttp_finish(&parser_);
  if (err == HPE_OK || err == HPE_PAUSED) return {ExecuteStatus::Done, 0};
  fail(ParseFailure::Malformed, "the peer closed the connection in the middle of a message");
  return {ExecuteStatus::Error, 0};
}

int MessageParser::on_message_begin_cb(llhttp_t* parser) noexcept {
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

int MessageParser::on_url_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept {
  auto& p = self(parser);
  if (!p.count_head_bytes(length)) return p.fail(ParseFailure::TooLarge, "request line too long");
  if (p.head_->target.length == 0) p.head_->target.offset = static_cast<std::uint32_t>(at - p.base_);
  p.head_->target.length += static_cast<std::uint32_t>(length);
  return 0;
}

int MessageParser::on_status_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept {
  auto& p = self(parser);
  if (!p.count_head_bytes(length)) return p.fail(ParseFailure::TooLarge, "status line too long");
  if (p.head_->reason.length == 0) p.head_->reason.offset = static_cast<std::uint32_t>(at - p.base_);
  p.head_->reason.length += static_cast<std::uint32_t>(length);
  return 0;
}

int MessageParser::on_header_field_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept {
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

int MessageParser::on_header_value_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept {
  auto& p = self(parser);
  if (!p.count_head_bytes(length)) return p.fail(ParseFailure::TooLarge, "header section too large");
  if (p.head_complete_) return 0;
  auto& value = p.head_->headers.back().value;
  if (value.length == 0) value.offset = static_cast<std::uint32_t>(at - p.base_);
  value.length += static_cast<std::uint32_t>(length);
  return 0;
}

int MessageParser::on_header_value_complete_cb(llhttp_t* parser) noexcept {
  auto& p = self(parser);
  // ": " and CRLF around every field count towards the limit like the bytes on the wire.
  if (!p.count_head_bytes(4)) return p.fail(ParseFailure::TooLarge, "header section too large");
  if (p.head_complete_) return 0;
  p.field_open_ = false;
  auto& header = p.head_->headers.back();
  if (header.name.length == 0) return p.fail(ParseFailure::Malformed, "empty header name");
  if (!is_token(header.name.view(p.base_))) return p.fail(ParseFailure::Malformed, "invalid header name");
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
  header.kind = classify_header(header.name.view(p.base_));
  if (header.kind == HeaderKind::Host) ++p.head_->host_count;
  if (header.kind == HeaderKind::Expect && iequals(value, "100-continue")) p.head_->expect_continue = true;
  return 0;
}

int MessageParser::validate_request_head() {
  auto& head = *head_;
  if (head.version_major != 1 || head.version_minor > 1) {
    return fail(ParseFailure::Malformed, "only HTTP/1.0 and HTTP/1.1 are accepted");
  }
  if (head.method == HTTP_CONNECT) return fail(ParseFailure::NotImplemented, "CONNECT is not served");
  if (head.host_count > 1) return fail(ParseFailure::Malformed, "more than one Host header");
  if (head.host_count == 0 && !head.is_http10()) return fail(ParseFailure::Malformed, "HTTP/1.1 request without Host");
  if ((parser_.flags & F_TRANSFER_ENCODING) != 0 && head.is_http10()) {
    return fail(ParseFailure::Malformed, "Transfer-Encoding in an HTTP/1.0 request");
  }
  // llhttp checks this only after on_headers_complete, where haven has already paused.
  if ((parser_.flags & F_TRANSFER_ENCODING) != 0 && (parser_.flags & F_CHUNKED) == 0) {
    return fail(ParseFailure::Malformed, "Transfer-Encoding does not end in chunked");
  }
  const auto target = head.target.view(base_);
  if (target.empty()) return fail(ParseFailure::Malformed, "empty request target");
  if (const Header* host = head.find(HeaderKind::Host)) {
    const auto host_value = host->value.view(base_);
    if (!is_valid_host(host_value)) return fail(ParseFailure::Malformed, "invalid Host header");
    const auto authority = absolute_form_authority(target);
    if (!authority.empty() && !iequals(authority, host_value)) {
      return fail(ParseFailure::Malformed, "Host header conflicts with the request target");
    }
  }
  if (target[0] != '/' && target != "*" && absolute_form_authority(target).empty()) {
    return fail(ParseFailure::Malformed, "request target is neither a path nor an absolute URI");
  }
  return 0;
}

int MessageParser::validate_head() {
  auto& head = *head_;
  head.version_major = llhttp_get_http_major(&parser_);
  head.version_minor = llhttp_get_http_minor(&parser_);
  head.method = llhttp_get_method(&parser_);
  head.status = llhttp_get_status_code(&parser_);
  if (kind_ == MessageKind::Request) {
    if (const int rc = validate_request_head(); rc != 0) return rc;
  } else {
    if (head.version_major != 1 || head.version_minor > 1) {
      return fail(ParseFailure::Malformed, "response is not HTTP/1.0 or HTTP/1.1");
    }
    if (head.status < 100 || head.status > 599) return fail(ParseFailure::Malformed, "status code out of range");
  }
  head.keep_alive = llhttp_should_keep_alive(&parser_) != 0;
  head.upgrade = parser_.upgrade != 0;
  if ((parser_.flags & F_CHUNKED) != 0) {
    head.framing = BodyFraming::Chunked;
  } else if ((parser_.flags & F_CONTENT_LENGTH) != 0) {
    // Content-Length: 0 stays explicit: a POST without it may get 411 from the server.
    head.framing = BodyFraming::ContentLength;
    head.content_length = parser_.content_length;
  } else if (kind_ == MessageKind::Response && !skip_body_ && llhttp_message_needs_eof(&parser_) != 0) {
    head.framing = BodyFraming::UntilClose;
  }
  if (kind_ == MessageKind::Response && (skip_body_ || head.status / 100 == 1 || head.status == 204 ||
                                         head.status == 304)) {
    head.framing = BodyFraming::None;
  }
  return 0;
}

int MessageParser::on_headers_complete_cb(llhttp_t* parser) noexcept {
  auto& p = self(parser);
  if (p.validate_head() != 0) return -1;
  p.head_complete_ = true;
  const int rc = p.sink_->on_head(*p.head_);
  if (rc != 0) return rc;
  // Responses to HEAD, 1xx, 204 and 304 may announce a length but carry no body; llhttp only
  // knows that when told.
  return (p.kind_ == MessageKind::Response && p.head_->framing == BodyFraming::None) ? 1 : 0;
}

int MessageParser::on_body_cb(llhttp_t* parser, const char* at, std::size_t length) noexcept {
  // llhttp flushes an open span at the end of every execute(), also an empty one; an empty
  // piece would become a terminating chunk once re-chunked.
  if (length == 0) return 0;
  auto& p = self(parser);
  p.body_started_ = true;
  p.sink_->on_body(at, length);
  return 0;
}

int MessageParser::on_message_complete_cb(llhttp_t* parser) noexcept {
  auto& p = self(parser);
  p.in_message_ = false;
  return p.sink_->on_message_complete();
}

int MessageParser::on_chunk_extension_cb(llhttp_t* parser, const char* /*at*/, std::size_t length) noexcept {
  auto& p = self(parser);
  p.chunk_extension_bytes_ += static_cast<std::uint32_t>(length);
  if (p.chunk_extension_bytes_ > p.limits_.max_chunk_extension_bytes) {
    return p.fail(ParseFailure::Malformed, "chunk extension too long");
  }
  return 0;
}

int MessageParser::on_chunk_complete_cb(llhttp_t* parser) noexcept {
  self(parser).chunk_extension_bytes_ = 0;
  return 0;
}

}  // namespace haven::http
