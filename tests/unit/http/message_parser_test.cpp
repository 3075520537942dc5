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
  int on_head(MessageHead& /*h*/) override { return pause_on_head ? haven::http::kSinkPause : 0; }
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
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", ParseFailure::NotImplemented);
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

// ---------------------------------------------------------------------------------------------
// What llhttp 8.1.0 accepts and RFC 9110/9112 forbid (docs/http-strictness.md, one case per row).

TEST_CASE("a bare CR is never a line end in a head") {
  expect_rejected("GET / HTTP/1.1\rHost: a\r\n\r\n");
  expect_rejected("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n");
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n");
  // What llhttp 8.1.0 itself accepted: a lone CR for the blank line that ends the head.
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\n\rGET / HTTP/1.1\r\nHost: a\r\n\r\n");
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\n\rX");
}

TEST_CASE("a bare CR is never a line end in chunk framing") {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\rabc\r\n0\r\n\r\n");
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r0\r\n\r\n");
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\rX: y\r\n\r\n");
  // What llhttp 8.1.0 itself accepted: a lone CR for the blank line after the last chunk.
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\rGET / HTTP/1.1\r\n\r\n");
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\rX");
  // CR in the content itself is data, not framing.
  Recorder recorder;
  const auto parsed =
      parse_request("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\na\rc\r\n0\r\n\r\n", recorder);
  CHECK(parsed.status == ExecuteStatus::Done);
  CHECK(recorder.body == "a\rc");
  Recorder length;
  CHECK(parse_request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n\r\rx", length).status ==
        ExecuteStatus::Done);
  CHECK(length.body == "\r\rx");
}

TEST_CASE("a CR split from its LF across reads is still a line end") {
  const std::string wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  for (std::size_t split = 1; split < wire.size(); ++split) {
    Recorder recorder;
    MessageParser parser(MessageKind::Request, recorder);
    CAPTURE(split);
    auto first = parser.execute(wire.data(), wire.data(), split);
    REQUIRE(first.status == ExecuteStatus::Done);
    auto second = parser.execute(wire.data(), wire.data() + split, wire.size() - split);
    CHECK(second.status == ExecuteStatus::Done);
    CHECK(recorder.body == "abc");
    CHECK(recorder.completed == 1);
  }
  const std::string bare = "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n";
  const std::size_t cr = bare.find("\rX");
  Recorder recorder;
  MessageParser parser(MessageKind::Request, recorder);
  const auto first = parser.execute(bare.data(), bare.data(), cr + 1);
  const auto second = first.status == ExecuteStatus::Error
                          ? first
                          : parser.execute(bare.data(), bare.data() + cr + 1, bare.size() - cr - 1);
  CHECK(second.status == ExecuteStatus::Error);
}

TEST_CASE("request targets follow RFC 9112 3.2 with RFC 3986 characters") {
  for (const char* target : {"/a\tb", "/a\fb", "/a#frag", "/\xc3\xa9", "/a%2", "/a%zz", "/a\\b", "/a\"b", "/a<b",
                             "/a{b}", "/a^b", "/a`b", "/?q=a b", "/?q=\"", "/?q=<", "/?q=\xff", "/?a#b", "foo",
                             "ftp://a/", "http://user@a/", "http:///x", "http://a#f"}) {
    expect_rejected(std::string("GET ") + target + " HTTP/1.1\r\nHost: a\r\n\r\n");
  }
  expect_rejected("GET * HTTP/1.1\r\nHost: a\r\n\r\n");
  // What browsers send raw (WHATWG URL): '[', ']', '|' in paths; also '{', '}', '^', '`', '\\' and
  // a lone '%' in queries (qs/axios "filter[a]=1").
  for (const char* target : {"/", "/a/b?c=d&e=%2F", "/~x/-._!$&'()*+,;=:@", "//double", "/?q=/?", "/a[1]|b",
                             "/api?filter[a]=1&b[]=2", "/?q={x}^`\\y", "/?q=100%"}) {
    Recorder recorder;
    CAPTURE(target);
    CHECK(parse_request(std::string("GET ") + target + " HTTP/1.1\r\nHost: a\r\n\r\n", recorder).status ==
          ExecuteStatus::Done);
  }
  Recorder options;
  CHECK(parse_request("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", options).status == ExecuteStatus::Done);
  Recorder absolute;
  CHECK(parse_request("GET http://a:80/x?y HTTP/1.1\r\nHost: a:80\r\n\r\n", absolute).status == ExecuteStatus::Done);
}

TEST_CASE("header names with underscores: dropped, refused or kept") {
  const std::string wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nX_A: 1\r\nContent-Length: 0\r\n\r\n";
  Recorder dropped;
  CHECK(parse_request(wire, dropped).status == ExecuteStatus::Done);
  CHECK(dropped.head.dropped_headers == 2);
  CHECK(dropped.head.headers[1].kind == HeaderKind::Dropped);
  CHECK(dropped.head.framing == BodyFraming::ContentLength);

  ParseLimits reject;
  reject.underscores = UnderscoreHeaders::Reject;
  Recorder refused;
  CHECK(parse_request(wire, refused, reject).failure == ParseFailure::Malformed);

  ParseLimits allow;
  allow.underscores = UnderscoreHeaders::Allow;
  Recorder kept;
  CHECK(parse_request(wire, kept, allow).status == ExecuteStatus::Done);
  CHECK(kept.head.dropped_headers == 0);
  CHECK(kept.head.headers[1].kind == HeaderKind::Other);
}

TEST_CASE("Connection may not name the fields the proxy relies on") {
  for (const char* name : {"Host", "content-length", "Transfer-Encoding", "X-Forwarded-For", "x-forwarded-proto"}) {
    expect_rejected(std::string("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, ") + name + "\r\n\r\n");
  }
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nConnection: a b\r\n\r\n");  // not a token
  Recorder fine;
  CHECK(parse_request("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret, TE\r\n\r\n", fine).status ==
        ExecuteStatus::Done);
  CHECK(fine.head.connection.count == 2);
  CHECK(fine.head.connection.keep_alive);
}

TEST_CASE("Connection lists are bounded: 32 distinct names, 128 tokens") {
  std::string distinct = "GET / HTTP/1.1\r\nHost: a\r\nConnection: ";
  for (int i = 0; i < 32; ++i) distinct.append("x").append(std::to_string(i)).append(",");
  Recorder fits;
  CHECK(parse_request(distinct + "\r\n\r\n", fits).status == ExecuteStatus::Done);
  CHECK(fits.head.connection.count == 32);
  expect_rejected(distinct + "one-more\r\n\r\n");
  std::string repeated = "GET / HTTP/1.1\r\nHost: a\r\nConnection: ";
  for (int i = 0; i < 129; ++i) repeated += "a,";
  expect_rejected(repeated + "\r\n\r\n");
}

TEST_CASE("requests: a transfer coding other than a single chunked is 501 or 400") {
  for (const char* codings : {"gzip", "gzip, chunked", "deflate,chunked"}) {
    expect_rejected(std::string("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ") + codings + "\r\n\r\n",
                    ParseFailure::NotImplemented);
  }
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n");
}

TEST_CASE("responses: codings before chunked are kept, a final other coding reads until close") {
  Recorder gzip_chunked;
  MessageParser parser(MessageKind::Response, gzip_chunked);
  const std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nzz\r\n0\r\n\r\n";
  CHECK(parser.execute(wire.data(), wire.data(), wire.size()).status == ExecuteStatus::Done);
  CHECK(gzip_chunked.head.framing == BodyFraming::Chunked);
  CHECK(gzip_chunked.head.transfer_codings);
  CHECK(gzip_chunked.body == "zz");

  Recorder gzip_only;
  MessageParser eof_parser(MessageKind::Response, gzip_only);
  const std::string eof_wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw";
  CHECK(eof_parser.execute(eof_wire.data(), eof_wire.data(), eof_wire.size()).status == ExecuteStatus::Done);
  CHECK(gzip_only.head.framing == BodyFraming::UntilClose);
  CHECK(gzip_only.head.transfer_codings);
  eof_parser.finish();
  CHECK(gzip_only.completed == 1);
  CHECK(gzip_only.body == "raw");
}

TEST_CASE("only WebSocket upgrades are upgrades") {
  Recorder h2c;
  CHECK(parse_request("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                      "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
                      h2c)
            .status == ExecuteStatus::Done);
  CHECK_FALSE(h2c.head.upgrade);
  CHECK(h2c.completed == 1);
  Recorder websocket;
  const auto parsed =
      parse_request("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", websocket);
  CHECK(parsed.status == ExecuteStatus::Upgrade);
  CHECK(websocket.head.upgrade);

  Recorder switching;
  MessageParser parser(MessageKind::Response, switching);
  const std::string wire = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n";
  CHECK(parser.execute(wire.data(), wire.data(), wire.size()).status == ExecuteStatus::Error);
}

TEST_CASE("Connection: close with whitespace around it still closes") {
  Recorder recorder;
  CHECK(parse_request("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\t\r\n\r\n", recorder).status ==
        ExecuteStatus::Done);
  CHECK_FALSE(recorder.head.keep_alive);
}

TEST_CASE("a control byte in a reason phrase is refused") {
  for (const char* wire : {"HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 200 OK\x1d\nContent-Length: 0\r\n\r\n"}) {
    Recorder recorder;
    MessageParser parser(MessageKind::Response, recorder);
    const std::string text(wire);
    CAPTURE(text);
    CHECK(parser.execute(text.data(), text.data(), text.size()).status == ExecuteStatus::Error);
  }
}

// Regression: llhttp's default build skipped any two bytes after a chunk's data, so "xx\n4"
// hid a second request from a peer that reads the chunk sizes right.
TEST_CASE("chunk data must be followed by exactly CRLF") {
  expect_rejected("POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxx\n45\r\nabcde\r\n0\r\n\r\n"
                  "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n");
  expect_rejected("POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n");
}

TEST_CASE("an empty Transfer-Encoding field beside chunked is refused") {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: \r\n\r\n0\r\n\r\n");
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
}

// Found by fuzzing: a 101 without "Connection: upgrade" was tunnelled by the proxy while llhttp
// went on reading the server's bytes as HTTP.
TEST_CASE("a 101 needs Connection: upgrade") {
  Recorder recorder;
  MessageParser parser(MessageKind::Response, recorder);
  const std::string wire = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
  CHECK(parser.execute(wire.data(), wire.data(), wire.size()).status == ExecuteStatus::Error);
}
