// A chunked request body: a fixed valid head, then the fuzz bytes as the body (and whatever
// pipelined requests they contain). The de-chunked bytes can never outnumber the bytes received,
// every chunk of a finished body sits between CR LF delimiters, and a finished body, re-chunked
// the way the proxy forwards it (each piece one chunk), must parse back to the same body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "arriving_input.hpp"
#include "haven/http/head_writer.hpp"
#include "haven/http/message_parser.hpp"
#include "recording_sink.hpp"
#include "require.hpp"
#include "session_parsing.hpp"

namespace {

using haven::fuzz::ArrivingInput;
using haven::fuzz::require;

constexpr std::string_view kHead = "POST /upload HTTP/1.1\r\nHost: fuzz.example\r\nTransfer-Encoding: chunked\r\n\r\n";
constexpr haven::http::ParseLimits kLimits{};

// What the proxy sends upstream for a chunked request body (proxy::queue_body, then the last chunk).
std::string rechunked(const haven::fuzz::RecordedMessage& message) {
  std::string wire(kHead);
  std::size_t offset = 0;
  for (const haven::http::Span piece : message.body_pieces) {
    haven::http::append_chunk_header(wire, piece.length);
    wire.append(message.body, offset, piece.length);
    wire.append("\r\n");
    offset += piece.length;
  }
  wire.append("0\r\n\r\n");
  return wire;
}

// Read in one piece, each chunk's data reaches on_body whole, and in a finished body it must lie
// between the LF that ends its size line and the CR LF after it. A parser that takes a bare CR
// for a line end sees chunk boundaries where other peers see none.
void check_chunk_delimiters(const haven::fuzz::RequestRun& run) {
  const char* base = run.input.base();
  for (const auto& message : run.sink.messages()) {
    if (!message.complete || message.head.framing != haven::http::BodyFraming::Chunked) continue;
    for (const haven::http::Span piece : message.body_pieces) {
      require(piece.offset >= 1 && base[piece.offset - 1] == '\n');
      const std::size_t end = std::size_t{piece.offset} + piece.length;
      require(end + 2 <= run.input.size() && base[end] == '\r' && base[end + 1] == '\n');
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string wire(kHead);
  wire.append(reinterpret_cast<const char*>(data), size);
  const haven::fuzz::RequestRun run(wire, ArrivingInput::Reads::Several, kLimits);

  const auto& messages = run.sink.messages();
  require(!messages.empty() && messages.front().head_done);
  require(messages.front().head.framing == haven::http::BodyFraming::Chunked);
  std::size_t body_bytes = 0;
  for (const auto& message : messages) body_bytes += message.body.size();
  require(body_bytes <= size);

  check_chunk_delimiters(haven::fuzz::RequestRun(wire, ArrivingInput::Reads::One, kLimits));

  for (const auto& message : messages) {
    if (!message.complete || message.head.framing != haven::http::BodyFraming::Chunked) continue;
    const haven::fuzz::RequestRun again(rechunked(message), ArrivingInput::Reads::One, kLimits);
    require(again.end == haven::fuzz::ParseEnd::AllRead);
    const auto& reparsed = again.sink.messages();
    require(reparsed.size() == 1 && reparsed.front().complete && reparsed.front().body == message.body);
  }
  return 0;
}
