// A chunked request body: a fixed valid head, then the fuzz bytes as the body (and whatever
// pipelined requests they contain). The de-chunked bytes can never outnumber the bytes received,
// and a finished body, re-chunked the way the proxy forwards it (each piece one chunk), must parse
// back to the same body.
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

// What the proxy sends upstream for a chunked request body (OutQueue::add_body, then the last chunk).
std::string rechunked(const haven::fuzz::RecordedMessage& message) {
  std::string wire(kHead);
  std::size_t offset = 0;
  for (const std::size_t piece : message.body_pieces) {
    haven::http::append_chunk_header(wire, piece);
    wire.append(message.body, offset, piece);
    wire.append("\r\n");
    offset += piece;
  }
  wire.append("0\r\n\r\n");
  return wire;
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

  for (const auto& message : messages) {
    if (!message.complete || message.head.framing != haven::http::BodyFraming::Chunked) continue;
    const haven::fuzz::RequestRun again(rechunked(message), ArrivingInput::Reads::One, kLimits);
    require(again.end == haven::fuzz::ParseEnd::AllRead);
    const auto& reparsed = again.sink.messages();
    require(reparsed.size() == 1 && reparsed.front().complete && reparsed.front().body == message.body);
  }
  return 0;
}
