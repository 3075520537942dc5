#pragma once
// The reading half of the HTTP/1 client codec: a server's bytes in a pooled buffer and the strict
// response parser over them. Exchanges and the health probe read responses with it, so a check
// judges a server by the same rules as traffic does.
#include <cstddef>

#include "haven/http/message_parser.hpp"
#include "haven/net/buffer_pool.hpp"

namespace haven::upstream {

enum class ResponseStep : std::uint8_t {
  NeedMore,  // every byte parsed; the message goes on
  Complete,  // a final response ended (the parser is paused behind it)
  Upgrade,   // a 101: what follows belongs to the new protocol
  Invalid,   // malformed, over a limit, or refused by the sink
};

class ResponseReader {
 public:
  explicit ResponseReader(http::MessageSink& sink) : parser_(http::MessageKind::Response, sink) {}
  ResponseReader(const ResponseReader&) = delete;
  ResponseReader& operator=(const ResponseReader&) = delete;

  // Ready for the response to a new request: the backend's head limits; a response to HEAD has
  // no body whatever its length headers say.
  void begin(const http::ParseLimits& limits, bool head_request);
  // Where the next read lands. The buffer comes from `buffers` on first use; capacity 0 means no
  // memory was left. `raw` (a tunnel): only the body-sized part of the buffer is used.
  char* alloc(net::BufferPool& buffers, std::size_t& capacity, bool raw);
  void received(std::size_t length) { in_->end += length; }
  // Parses what arrived. Body bytes reach the sink as views into the buffer: they stay valid
  // until consumed() (or release()).
  ResponseStep parse();
  // The server closed its side: true when that ended a response delimited by the close.
  bool finish_at_close();
  // Every byte parsed so far has been passed on: the buffer starts over, unless it holds an
  // unfinished head.
  void consumed();
  // Bytes after the complete response (a server talking out of turn).
  [[nodiscard]] bool unread_bytes() const { return in_ != nullptr && parsed_ != in_->end; }
  // For a tunnel: the bytes behind the 101's head move to the front, and the buffer changes owner
  // (nullptr when there is none).
  net::Buffer* take_buffer_for_tunnel();
  void release(net::BufferPool& buffers);

  [[nodiscard]] bool head_complete() const { return parser_.head_complete(); }
  [[nodiscard]] bool in_message() const { return parser_.in_message(); }
  // Why parse() said Invalid, in words.
  [[nodiscard]] std::string_view failure_reason() const { return parser_.failure_reason(); }
  // Response head spans are relative to this.
  [[nodiscard]] const char* base() const { return in_->data; }

 private:
  http::MessageParser parser_;
  net::Buffer* in_ = nullptr;
  std::size_t parsed_ = 0;
};

}  // namespace haven::upstream
