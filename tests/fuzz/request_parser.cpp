// Requests as clients send them, through MessageParser the way Http1Connection drives it. Every head
// must keep the head invariants, and the same bytes cut into other reads must give the same heads,
// bodies and outcome: the proxy sees whatever cuts the network makes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "arriving_input.hpp"
#include "haven/http/message_parser.hpp"
#include "recording_sink.hpp"
#include "require.hpp"
#include "session_parsing.hpp"

namespace {

// Small enough that inputs of a few KiB reach every limit.
constexpr haven::http::ParseLimits kLimits{.max_head_bytes = 1024, .max_headers = 16, .max_chunk_extension_bytes = 64};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using haven::fuzz::ArrivingInput;
  using haven::fuzz::require;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const haven::fuzz::RequestRun whole(bytes, ArrivingInput::Reads::One, kLimits);
  const haven::fuzz::RequestRun cut(bytes, ArrivingInput::Reads::Several, kLimits);
  require(whole.end == cut.end);
  require(haven::fuzz::consistent_failures(whole.parser.failure(), cut.parser.failure()));
  require(haven::fuzz::same_messages(whole.sink, cut.sink));
  return 0;
}
