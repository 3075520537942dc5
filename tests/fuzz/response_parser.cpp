// Responses as servers send them, through MessageParser the way Exchange drives it (upstream::ResponseReader): each
// exchange answers a request that was HEAD or an upgrade or neither (set_skip_body, a refused 101),
// and the end of the input is the server closing (finish()). Every head must keep the head
// invariants, and the same bytes cut into other reads must give the same outcome.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "arriving_input.hpp"
#include "haven/http/message_parser.hpp"
#include "recording_sink.hpp"
#include "require.hpp"
#include "session_parsing.hpp"

namespace {

// The proxy reads responses with the default limits.
constexpr haven::http::ParseLimits kLimits{};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using haven::fuzz::ArrivingInput;
  using haven::fuzz::require;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The requests answered come from the bytes too, the same for both runs.
  const std::uint64_t request_bits = haven::fuzz::derive_seed(bytes) >> 8;
  const haven::fuzz::ResponseRun whole(bytes, ArrivingInput::Reads::One, kLimits, request_bits);
  const haven::fuzz::ResponseRun cut(bytes, ArrivingInput::Reads::Several, kLimits, request_bits);
  require(whole.end == cut.end);
  require(haven::fuzz::consistent_failures(whole.parser.failure(), cut.parser.failure()));
  require(haven::fuzz::same_messages(whole.sink, cut.sink));
  return 0;
}
