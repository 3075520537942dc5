#include "haven/http/message_parser.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace haven::http;

namespace {

// Collects what the parser reports; pauses after the head like the proxy does.
struct Recorder final : MessageSink {
  MessageHead head;
  std::string body;
  std::vector<std::size_t> body_piece_sizes;
  int completed = 0;
  bool pause_on_head = false;

  MessageHead& on_message_begin() override { return head; }
  int on_head(MessageHead& /*h*/) override { return pause_on_head ? HPE_PAUSED : 0; }
  void on_body(const char* data, std::size_t length) override {
    body.append(data, length);
    body_piece_sizes.push_back(length);
  }
  int on_message_complete() override {
    ++completed;
    return 0;
  }
};

struct Parsed {
  ExecuteStatus status;
  ParseFailure failure;
  std::string reason;
};

Parsed parse_request(const std::string& wire, Recorder& recorder, ParseLimits limits = {}) {
  MessageParser parser(MessageKind::Request, recorder);
  parser.set_limits(limits);
  const auto result = parser.execute(wire.data(), wire.data(), wire.size());
  return {result.status, parser.failure(), std::string(parser.failure_reason())};
}

void expect_rejected(const std::string& wire, ParseFailure failure = ParseFailure::Malformed) {
  Recorder recorder;
  const auto parsed = parse_request(wire, recorder);
  INFO(wire);
  CHECK(parsed.status == ExecuteStatus::Error);
  CHECK(parsed.failure == failure);
}

}  // namespace

TEST_CASE("a simple request parses into spans of the buffer") {
  Recorder recorder;
  const std::string wire = "GET /api/x?y=1 HTTP/1.1\r\nHost: example.com\r\nX-A: b  \r\n\r\n";
  const auto parsed = parse_request(wire, recorder);
  CHECK(parsed.status == ExecuteStatus::Done);
  const auto& head = recorder.head;
  CHECK(head.target.view(wire.data()) == "/api/x?y=1");
  REQUIRE(head.headers.size() == 2);
  CHECK(head.headers[0].kind == HeaderKind::Host);
  CHECK(head.headers[1].name.view(wire.data()) == "X-A");
  CHECK(head.headers[1].value.view(wire.data()) == "b");  // trailing whitespace is not part of the value
  CHECK(head.framing == BodyFraming::None);
  CHECK(head.keep_alive);
  CHECK(recorder.completed == 1);
}

TEST_CASE("framing is read from the head") {
  Recorder recorder;
  parse_request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", recorder);
  CHECK(recorder.head.framing == BodyFraming::ContentLength);
  CHECK(recorder.head.content_length == 5);
  CHECK(recorder.body == "hello");

  Recorder chunked;
  parse_request("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nT: x\r\n\r\n",
                chunked);
  CHECK(chunked.head.framing == BodyFraming::Chunked);
  CHECK(chunked.body == "abc");
  CHECK(chunked.completed == 1);
  CHECK(chunked.head.headers.size() == 2);  // the trailer is not a header of the head
}

TEST_CASE("ambiguous or malformed requests are refused") {
  expect_rejected("GET / HTTP/1.1\r\n\r\n");                                        // no Host
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");                  // two Hosts
  expect_rejected("GET / HTTP/1.1\r\nHost: a b\r\n\r\n");                           // bad Host
  expect_rejected("GET http://x/ HTTP/1.1\r\nHost: y\r\n\r\n");                     // conflicting Host
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n");
  expect_rejected("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
  expect_rejected("GET / HTTP/2.0\r\nHost: a\r\n\r\n");
  expect_rejected("GET / HTTP/1.2\r\nHost: a\r\n\r\n");
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n");                      // empty name
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX-A : x\r\n\r\n");                  // space before colon
  expect_rejected(std::string("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01z\r\n\r\n"));  // control byte
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n");             // obs-fold
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  expect_rejected("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", ParseFailure::NotImplemented);
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(2000, 'e') +
                  "\r\na\r\n0\r\n\r\n");
}

TEST_CASE("HTTP/1.0 requests may omit Host") {
  Recorder recorder;
  CHECK(parse_request("GET / HTTP/1.0\r\n\r\n", recorder).status == ExecuteStatus::Done);
  CHECK(recorder.head.is_http10());
  CHECK_FALSE(recorder.head.keep_alive);
}

TEST_CASE("head size and header count limits give 431") {
  ParseLimits limits;
  limits.max_head_bytes = 1024;
  limits.max_headers = 3;
  Recorder big;
  auto parsed = parse_request("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(2000, 'v') + "\r\n\r\n", big, limits);
  CHECK(parsed.failure == ParseFailure::TooLarge);
  Recorder many;
  parsed = parse_request("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", many, limits);
  CHECK(parsed.failure == ParseFailure::TooLarge);
  Recorder fits;
  parsed = parse_request("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", fits, limits);
  CHECK(parsed.status == ExecuteStatus::Done);
}

TEST_CASE("pausing after the head leaves the body for later") {
  Recorder recorder;
  recorder.pause_on_head = true;
  MessageParser parser(MessageKind::Request, recorder);
  const std::string wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET";
  auto result = parser.execute(wire.data(), wire.data(), wire.size());
  CHECK(result.status == ExecuteStatus::Paused);
  CHECK(wire.substr(result.consumed, 3) == "abc");
  parser.resume();
  result = parser.execute(wire.data(), wire.data() + result.consumed, wire.size() - result.consumed);
  CHECK(recorder.body == "abc");
  CHECK(recorder.completed == 1);
}

// Regression: executing on zero bytes in the middle of a body made llhttp report an empty body
// piece, which the proxy turned into a terminating "0" chunk.
TEST_CASE("no empty body pieces when executed on zero bytes") {
  Recorder recorder;
  MessageParser parser(MessageKind::Request, recorder);
  const std::string wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
  parser.execute(wire.data(), wire.data(), wire.size());
  parser.execute(wire.data(), wire.data() + wire.size(), 0);
  for (const auto size : recorder.body_piece_sizes) CHECK(size > 0);
  CHECK(recorder.body == "ab");
}

TEST_CASE("responses: bodiless statuses and HEAD skip announced lengths") {
  for (const char* wire : {"HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n",
                           "HTTP/1.1 204 No Content\r\n\r\n"}) {
    Recorder recorder;
    MessageParser parser(MessageKind::Response, recorder);
    const std::string text(wire);
    const auto result = parser.execute(text.data(), text.data(), text.size());
    CHECK(result.status == ExecuteStatus::Done);
    CHECK(recorder.completed == 1);
    CHECK(recorder.head.framing == BodyFraming::None);
  }
  Recorder head_response;
  MessageParser parser(MessageKind::Response, head_response);
  parser.set_skip_body(true);
  const std::string text = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
  parser.execute(text.data(), text.data(), text.size());
  CHECK(head_response.completed == 1);

  Recorder until_close;
  MessageParser eof_parser(MessageKind::Response, until_close);
  const std::string eof_text = "HTTP/1.1 200 OK\r\n\r\nsome bytes";
  eof_parser.execute(eof_text.data(), eof_text.data(), eof_text.size());
  CHECK(until_close.head.framing == BodyFraming::UntilClose);
  CHECK(until_close.completed == 0);
  eof_parser.finish();
  CHECK(until_close.completed == 1);
  CHECK(until_close.body == "some bytes");
}

TEST_CASE("invalid responses are refused") {
  for (const char* wire : {"HTTP/1.1 abc OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "SSH-2.0-x\r\n"}) {
    Recorder recorder;
    MessageParser parser(MessageKind::Response, recorder);
    const std::string text(wire);
    INFO(text);
    CHECK(parser.execute(text.data(), text.data(), text.size()).status == ExecuteStatus::Error);
  }
}
