// The heads haven writes must mean what the heads it parsed meant. Input starting with "HTTP/" is
// read as responses, anything else as requests; every head the session would forward is written
// (write_request_head, or plan_response + write_response_head) and parsed again, and both parses
// must agree on what decides how the message travels: method and target, status, framing and
// length, upgrade, and for final responses the persistence haven planned.
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

using haven::fuzz::AnsweredRequest;
using haven::fuzz::ArrivingInput;
using haven::fuzz::ParseEnd;
using haven::fuzz::RecordedMessage;
using haven::fuzz::require;
namespace http = haven::http;

constexpr http::ParseLimits kLimits{};
// haven adds fields (X-Forwarded-*, Host, Transfer-Encoding, Connection) and writes ": " after
// every name, so a head at the parse limits can be over them once written. The read back allows
// that much more: a peer whose limits are exactly haven's refusing it is a limit, not a change of
// what the head means.
constexpr http::ParseLimits kReadBackLimits{.max_head_bytes = 2 * kLimits.max_head_bytes,
                                            .max_headers = kLimits.max_headers + 16};
// What the session passes: the client's address, and the server's address as the Host of an
// HTTP/1.0 request that sent none.
constexpr http::RequestRewrite kRewrite{.client_ip = "192.0.2.7", .proto = "http", .fallback_host = "192.0.2.10:8080"};

void check_requests(std::string_view bytes) {
  const haven::fuzz::RequestRun original(bytes, ArrivingInput::Reads::One, kLimits);
  for (const RecordedMessage& message : original.sink.messages()) {
    if (!message.head_done) continue;
    const http::MessageHead& head = message.head;
    std::string written;
    http::write_request_head(written, head, original.input.base(), kRewrite);

    const haven::fuzz::RequestRun again(written, ArrivingInput::Reads::One, kReadBackLimits);
    require(again.end != ParseEnd::Error);
    require(!again.sink.messages().empty() && again.sink.messages().front().head_done);
    const http::MessageHead& rewritten = again.sink.messages().front().head;
    require(rewritten.method == head.method);
    require(rewritten.target.view(again.input.base()) == head.target.view(original.input.base()));
    require(rewritten.framing == head.framing && rewritten.content_length == head.content_length);
    require(rewritten.upgrade == head.upgrade);
  }
}

http::BodyFraming framing_written(http::ClientFraming framing) {
  switch (framing) {
    case http::ClientFraming::ContentLength:
      return http::BodyFraming::ContentLength;
    case http::ClientFraming::Chunked:
      return http::BodyFraming::Chunked;
    case http::ClientFraming::UntilClose:
      return http::BodyFraming::UntilClose;
    case http::ClientFraming::None:
      break;
  }
  return http::BodyFraming::None;
}

void check_responses(std::string_view bytes, std::uint64_t seed) {
  const std::uint64_t request_bits = seed >> 8;
  const bool client_http10 = (seed & 1) != 0;
  const bool client_keep_alive = (seed & 2) != 0;
  const haven::fuzz::ResponseRun original(bytes, ArrivingInput::Reads::One, kLimits, request_bits);
  for (const RecordedMessage& message : original.sink.messages()) {
    if (!message.head_done || !message.head_accepted) continue;
    const http::MessageHead& head = message.head;
    const bool interim = head.status / 100 == 1;
    const http::ResponsePlan plan =
        interim ? http::ResponsePlan{} : http::plan_response(head, client_http10, client_keep_alive);
    if (!plan.relayable) continue;  // the proxy answers 502 instead: nothing of this head is written
    std::string written;
    http::write_response_head(written, head, original.input.base(), plan, client_http10);

    // The client reads it knowing the request it sent, as haven did.
    const AnsweredRequest request = message.request;
    const std::uint64_t same_request = (request.was_head ? 1U : 0U) | (request.was_upgrade ? 2U : 0U);
    const haven::fuzz::ResponseRun again(written, ArrivingInput::Reads::One, kReadBackLimits, same_request);
    require(again.end != ParseEnd::Error);
    require(!again.sink.messages().empty());
    const RecordedMessage& reparsed = again.sink.messages().front();
    require(reparsed.head_done && reparsed.head_accepted);
    const http::MessageHead& rewritten = reparsed.head;
    require(rewritten.status == head.status && rewritten.upgrade == head.upgrade);
    if (interim) {
      require(rewritten.framing == http::BodyFraming::None);
      continue;
    }
    require(rewritten.framing == framing_written(plan.framing));
    if (plan.framing == http::ClientFraming::ContentLength) require(rewritten.content_length == head.content_length);
    // An answer to HEAD without a length reads to llhttp as a body that runs until the close; only
    // a client that knows it asked for HEAD can tell the connection stays open.
    if (!request.was_head) require(rewritten.keep_alive == plan.keep_client_alive);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.starts_with("HTTP/")) {
    check_responses(bytes, haven::fuzz::derive_seed(bytes));
  } else {
    check_requests(bytes);
  }
  return 0;
}
