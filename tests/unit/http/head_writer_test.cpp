#include "haven/http/head_writer.hpp"

#include <string>

#include <doctest/doctest.h>

#include "haven/http/message_parser.hpp"

using namespace haven::http;

namespace {

struct Holder final : MessageSink {
  MessageHead head;
  MessageHead& on_message_begin() override { return head; }
  int on_head(MessageHead& /*h*/) override { return haven::http::kSinkPause; }
  void on_body(const char*, std::size_t) override {}
  int on_message_complete() override { return 0; }
};

std::string rewrite_request(const std::string& wire, std::string_view client_ip = "10.1.2.3") {
  Holder holder;
  MessageParser parser(MessageKind::Request, holder);
  parser.execute(wire.data(), wire.data(), wire.size());
  std::string out;
  RequestRewrite rewrite;
  rewrite.client_ip = client_ip;
  rewrite.fallback_host = "127.0.0.1:9000";
  write_request_head(out, holder.head, wire.data(), rewrite);
  return out;
}

std::string rewrite_response(const std::string& wire, bool client_http10, bool keep_alive, bool skip_body = false) {
  Holder holder;
  MessageParser parser(MessageKind::Response, holder);
  parser.set_skip_body(skip_body);
  parser.execute(wire.data(), wire.data(), wire.size());
  std::string out;
  const auto plan = plan_response(holder.head, client_http10, keep_alive);
  write_response_head(out, holder.head, wire.data(), plan, client_http10);
  return out;
}

}  // namespace

TEST_CASE("hop-by-hop request headers are removed and forwarding headers added") {
  const auto out = rewrite_request(
      "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 300\r\n"
      "Proxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: foo\r\nX-Forwarded-Proto: https\r\nAccept: */*\r\n\r\n");
  CHECK(out ==
        "GET /x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: http\r\n\r\n");
}

TEST_CASE("X-Forwarded-For lists are merged and the client appended") {
  const auto out = rewrite_request(
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n\r\n");
  CHECK(out.find("X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.1.2.3\r\n") != std::string::npos);
}

TEST_CASE("request framing is written by haven") {
  auto out = rewrite_request("POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 0005\r\n\r\n");
  CHECK(out.find("Content-Length: 5\r\n") != std::string::npos);
  CHECK(out.find("0005") == std::string::npos);
  out = rewrite_request("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  CHECK(out.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
}

TEST_CASE("HTTP/1.0 requests without Host get the server's address") {
  const auto out = rewrite_request("GET / HTTP/1.0\r\n\r\n");
  CHECK(out.rfind("GET / HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n", 0) == 0);
}

TEST_CASE("upgrade requests keep Upgrade and say Connection: upgrade") {
  const auto out =
      rewrite_request("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n");
  CHECK(out.find("Upgrade: websocket\r\nConnection: upgrade\r\n") != std::string::npos);
  CHECK(out.find("Sec-WebSocket-Key: k\r\n") != std::string::npos);
}

TEST_CASE("response framing follows the client's version") {
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: X-Drop\r\nX-Drop: 1\r\n\r\n";
  auto out = rewrite_response(chunked, false, true);
  CHECK(out == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  out = rewrite_response(chunked, true, true);
  CHECK(out == "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");  // HTTP/1.0: body until close
  out = rewrite_response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true, true);
  CHECK(out == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n");
  out = rewrite_response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", false, false);
  CHECK(out == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
  out = rewrite_response("HTTP/1.1 200 OK\r\n\r\n", false, true);  // read-until-close gets chunked
  CHECK(out == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
}

TEST_CASE("bodiless responses keep the length they announce") {
  auto out = rewrite_response("HTTP/1.1 304 Not Modified\r\nETag: \"v\"\r\nContent-Length: 99\r\n\r\n", false, true);
  CHECK(out == "HTTP/1.1 304 Not Modified\r\nETag: \"v\"\r\nContent-Length: 99\r\n\r\n");
  out = rewrite_response("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", false, true, /*skip_body=*/true);
  CHECK(out == "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n");
}

TEST_CASE("token lists") {
  CHECK(list_contains_token("close, X-Foo", "x-foo"));
  CHECK(list_contains_token(" keep-alive ,upgrade", "Upgrade"));
  CHECK_FALSE(list_contains_token("close", "clos"));
  CHECK_FALSE(list_contains_token("", "close"));
}

TEST_CASE("chunk headers are hexadecimal") {
  std::string out;
  append_chunk_header(out, 255);
  CHECK(out == "ff\r\n");
}

// Found by fuzzing: an HTTP/1.0 absolute-form request without Host was given the server's address
// as Host, which conflicts with the target's authority.
TEST_CASE("an absolute-form request without Host gets the target's authority as Host") {
  const auto out = rewrite_request("GET http://example.com:8080/x HTTP/1.0\r\n\r\n");
  CHECK(out.find("Host: example.com:8080\r\n") != std::string::npos);
  CHECK(out.find("127.0.0.1:9000") == std::string::npos);
}

TEST_CASE("a field goes in as the last line of a pre-built head; the body is left to send as it is") {
  std::string out = "prefix:";
  const std::string_view response = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbody";
  const std::string_view body = haven::http::append_head_with_field(out, response, "Strict-Transport-Security", "max-age=60");
  CHECK(out == "prefix:HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nStrict-Transport-Security: max-age=60\r\n\r\n");
  CHECK(body == "body");
  std::string whole;
  CHECK(haven::http::append_head_with_field(whole, "no head here", "X", "y").empty());
  CHECK(whole == "no head here");
}
