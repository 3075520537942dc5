#pragma once
// MessageParser driven read by read the way Http1Connection drives it.
//  - Requests: the head pauses (the session routes and connects), then resume() and execute()
//    run the body even when no new byte has arrived; a finished request pauses until its
//    response is sent; an upgrade hands the rest of the bytes to the tunnel.
//  - Responses: interim responses flow on; a finished final response ends the exchange, and the
//    bytes after it are read as the next exchange on the pooled connection (reset(), then the
//    next request's HEAD-ness); at the end of the input the server closes, and finish() must end
//    a read-until-close body and refuse any other open message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "arriving_input.hpp"
#include "haven/http/message_parser.hpp"
#include "recording_sink.hpp"
#include "require.hpp"

namespace haven::fuzz {

enum class ParseEnd : std::uint8_t {
  AllRead,    // every byte parsed (responses: and the close accepted)
  Upgrade,    // the rest of the bytes belong to the new protocol
  Error,      // execute() refused the bytes
  Truncated,  // responses: the server closed in the middle of a message
};

// One execute() over the bytes that arrived after `parsed`, with what every call must satisfy.
inline http::ExecuteResult execute_checked(http::MessageParser& parser, const ArrivingInput& input,
                                           std::size_t parsed, const RecordingSink& sink) {
  const std::size_t pending = input.arrived() - parsed;
  const std::size_t pauses_before = sink.pauses();
  const auto result = parser.execute(input.base(), input.base() + parsed, pending);
  require(result.consumed <= pending);
  switch (result.status) {
    case http::ExecuteStatus::Done:
      require(result.consumed == pending && sink.pauses() == pauses_before);
      break;
    case http::ExecuteStatus::Paused:
      // Only an answer of the sink pauses, once per call.
      require(sink.pauses() == pauses_before + 1);
      break;
    case http::ExecuteStatus::Upgrade:
      require(sink.last() != nullptr && sink.last()->complete && sink.last()->head.upgrade);
      break;
    case http::ExecuteStatus::Error:
      require(parser.failure() != http::ParseFailure::None);
      break;
  }
  if (result.status != http::ExecuteStatus::Error) require(parser.failure() == http::ParseFailure::None);
  return result;
}

inline ParseEnd drive_requests(http::MessageParser& parser, ArrivingInput& input, const RecordingSink& sink) {
  std::size_t parsed = 0;
  while (input.next_read()) {
    for (;;) {
      const auto result = execute_checked(parser, input, parsed, sink);
      parsed += result.consumed;
      if (result.status == http::ExecuteStatus::Done) break;
      if (result.status == http::ExecuteStatus::Upgrade) return ParseEnd::Upgrade;
      if (result.status == http::ExecuteStatus::Error) return ParseEnd::Error;
      parser.resume();
    }
  }
  return ParseEnd::AllRead;
}

// The request of exchange `index`, from two bits of `request_bits` per exchange.
inline AnsweredRequest nth_request(std::uint64_t request_bits, std::size_t index) {
  const auto bits = request_bits >> (2 * (index % 32));
  return AnsweredRequest{(bits & 1) != 0, (bits & 2) != 0};
}

inline ParseEnd drive_responses(http::MessageParser& parser, ArrivingInput& input, RecordingSink& sink,
                                std::uint64_t request_bits) {
  std::size_t exchange = 0;
  const auto start_exchange = [&] {
    const AnsweredRequest request = nth_request(request_bits, exchange++);
    parser.set_skip_body(request.was_head);
    sink.answer(request);
  };
  start_exchange();
  std::size_t parsed = 0;
  while (input.next_read()) {
    for (;;) {
      const auto result = execute_checked(parser, input, parsed, sink);
      parsed += result.consumed;
      if (result.status == http::ExecuteStatus::Done) break;
      if (result.status == http::ExecuteStatus::Upgrade) return ParseEnd::Upgrade;
      if (result.status == http::ExecuteStatus::Error) return ParseEnd::Error;
      const RecordedMessage* finished = sink.last();
      require(finished != nullptr && finished->complete);
      parser.reset();
      start_exchange();
    }
  }
  const RecordedMessage* open = parser.in_message() ? sink.last() : nullptr;
  const bool until_close =
      open != nullptr && parser.head_complete() && open->head.framing == http::BodyFraming::UntilClose;
  const auto result = parser.finish();
  require((result.status == http::ExecuteStatus::Done) == (open == nullptr || until_close));
  if (result.status != http::ExecuteStatus::Done) {
    require(parser.failure() == http::ParseFailure::Malformed);
    return ParseEnd::Truncated;
  }
  // finish() completes the open message itself rather than starting another one.
  if (until_close) require(open != nullptr && open->complete && !parser.in_message());
  return ParseEnd::AllRead;
}

// One parse of `bytes` as requests, as the session reads them, and all it left behind.
struct RequestRun {
  RequestRun(std::string_view bytes, ArrivingInput::Reads reads, const http::ParseLimits& limits)
      : input(bytes, reads), sink(http::MessageKind::Request, input, limits), parser(http::MessageKind::Request, sink) {
    parser.set_limits(limits);
    end = drive_requests(parser, input, sink);
  }

  ArrivingInput input;
  RecordingSink sink;
  http::MessageParser parser;
  ParseEnd end;
};

// One parse of `bytes` as the responses of a connection's exchanges (see nth_request).
struct ResponseRun {
  ResponseRun(std::string_view bytes, ArrivingInput::Reads reads, const http::ParseLimits& limits,
              std::uint64_t request_bits)
      : input(bytes, reads),
        sink(http::MessageKind::Response, input, limits),
        parser(http::MessageKind::Response, sink) {
    parser.set_limits(limits);
    end = drive_responses(parser, input, sink, request_bits);
  }

  ArrivingInput input;
  RecordingSink sink;
  http::MessageParser parser;
  ParseEnd end;
};

// Failures of the same bytes cut into other reads. The head size is checked as its pieces arrive,
// so a head that is both too large and malformed may be refused for either reason depending on
// where a read ended; any other failure must be the same.
inline bool consistent_failures(http::ParseFailure a, http::ParseFailure b) {
  return a == b || a == http::ParseFailure::TooLarge || b == http::ParseFailure::TooLarge;
}

}  // namespace haven::fuzz
