#pragma once
// Strict HTTP/1.x parsing over llhttp (every lenient flag off) plus the checks llhttp 8.1.0 leaves
// to its user or gets wrong: versions, header count and size, Host rules, control bytes, bare CR
// in framing, request-target grammar, Connection and Transfer-Encoding lists, upgrades other than
// WebSocket, chunk-extension size. docs/http-strictness.md lists every rule. Anything ambiguous
// is an error; the proxy answers it and never forwards it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "haven/http/message_head.hpp"

namespace haven::http {

enum class MessageKind { Request, Response };

// What to do with a request header name containing '_', which some servers read as '-'
// ("Transfer_Encoding" becoming a second framing header behind the proxy's back).
enum class UnderscoreHeaders : std::uint8_t { Drop, Reject, Allow };

struct ParseLimits {
  std::size_t max_head_bytes = 16384;
  std::size_t max_headers = 100;
  std::size_t max_chunk_extension_bytes = 1024;
  UnderscoreHeaders underscores = UnderscoreHeaders::Drop;  // requests only
};

// What went wrong, and so which status the proxy answers with.
enum class ParseFailure : std::uint8_t {
  None,
  Malformed,       // 400 for requests, 502 for responses
  TooLarge,        // 431: head over max_head_bytes or more than max_headers
  NotImplemented,  // 501: a method a reverse proxy does not serve (CONNECT)
};

// What MessageSink::on_head and on_message_complete return.
inline constexpr int kSinkContinue = 0;
inline constexpr int kSinkSkipBody = 1;  // on_head only: the head describes no body (a response to HEAD)
inline constexpr int kSinkPause = 21;    // stop execute() right after the head or the message
inline constexpr int kSinkError = -1;    // the message is refused

// Receives the parts of a message as the parser finds them. `base` is the pointer all Spans are
// relative to, as passed to execute().
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  // Called before a new message starts; returns the head to fill (kept by the sink).
  virtual MessageHead& on_message_begin() = 0;
  // Head parsed and validated: kSinkContinue, kSinkSkipBody, kSinkPause or kSinkError.
  virtual int on_head(MessageHead& head) = 0;
  // Body bytes, de-chunked; `data` points into the buffer given to execute().
  virtual void on_body(const char* data, std::size_t length) = 0;
  // kSinkContinue goes on with the next message in the buffer, kSinkPause stops after this one.
  virtual int on_message_complete() = 0;
};

enum class ExecuteStatus : std::uint8_t {
  Done,     // every byte consumed
  Paused,   // a callback paused; `consumed` tells how far
  Upgrade,  // the message was an upgrade; the rest of the bytes belong to the new protocol
  Error,
};

struct ExecuteResult {
  ExecuteStatus status = ExecuteStatus::Done;
  std::size_t consumed = 0;
};

class MessageParser {
 public:
  MessageParser(MessageKind kind, MessageSink& sink);
  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  void set_limits(const ParseLimits& limits) { limits_ = limits; }
  // Events go to another sink from now on (a pooled parser changes hands).
  void set_sink(MessageSink& sink) { sink_ = &sink; }
  // Must be called before the bytes of a new message arrive on a fresh stream, or after an
  // error (llhttp keeps returning its error until re-initialised).
  void reset();

  // Parses `data[0, length)`; header spans are offsets from `base` (which must hold the whole
  // head contiguously: the caller never moves bytes of an unfinished head).
  ExecuteResult execute(const char* base, const char* data, std::size_t length);
  // The peer closed its side: completes a read-until-close body, or reports a truncated message.
  ExecuteResult finish();
  // Continue after ExecuteStatus::Paused.
  void resume();
  // The next response answers a HEAD request: its length headers describe no body.
  void set_skip_body(bool skip) { skip_body_ = skip; }

  [[nodiscard]] ParseFailure failure() const { return failure_; }
  [[nodiscard]] std::string_view failure_reason() const { return failure_reason_; }
  [[nodiscard]] bool in_message() const { return in_message_; }
  [[nodiscard]] bool head_complete() const { return head_complete_; }
  [[nodiscard]] bool body_started() const { return body_started_; }

 private:
  // The llhttp callbacks and the llhttp_t in parser_state_: src/http/message_parser.cpp only, so
  // llhttp stays inside this module.
  struct Callbacks;
  static constexpr std::size_t kParserStateSize = 128;

  int fail(ParseFailure failure, const char* reason);
  bool count_head_bytes(std::size_t length);
  int validate_head();
  int validate_request_head();
  int validate_framing_lists();
  // Bytes [from, to) hold no body content: every CR there must be followed by LF.
  bool framing_has_bare_cr(const char* from, const char* to);
  // The sink's part of a head or message end, once the framing bytes before it passed.
  int deliver_head();
  int deliver_message_complete();

  // llhttp is paused at every head end and message end, so the bytes before them can be checked
  // before the sink sees anything.
  enum class InternalPause : std::uint8_t { None, HeadComplete, MessageComplete };

  alignas(16) unsigned char parser_state_[kParserStateSize]{};  // an llhttp_t
  MessageSink* sink_;
  MessageHead* head_ = nullptr;
  const char* base_ = nullptr;
  ParseLimits limits_;
  MessageKind kind_;
  ParseFailure failure_ = ParseFailure::None;
  const char* failure_reason_ = "";
  std::uint32_t head_bytes_ = 0;
  std::uint32_t chunk_extension_bytes_ = 0;
  const char* framing_from_ = nullptr;  // first byte of the current execute() not yet checked
  InternalPause internal_pause_ = InternalPause::None;
  bool cr_pending_ = false;             // the last framing byte checked was a CR
  bool in_message_ = false;
  bool head_complete_ = false;
  bool body_started_ = false;
  bool field_open_ = false;
  bool skip_body_ = false;
};

}  // namespace haven::http
