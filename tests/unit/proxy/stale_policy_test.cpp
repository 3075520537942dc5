#include "haven/proxy/stale_policy.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "haven/http/message_parser.hpp"

using namespace haven::proxy;
using haven::http::MessageHead;

namespace {

struct Sink final : haven::http::MessageSink {
  MessageHead head;
  MessageHead& on_message_begin() override { return head; }
  int on_head(MessageHead& /*h*/) override { return haven::http::kSinkPause; }
  void on_body(const char* /*d*/, std::size_t /*n*/) override {}
  int on_message_complete() override { return 0; }
};

// A head parsed from `wire`, which must outlive the result's use (spans point into it).
struct Parsed {
  std::string wire;
  Sink sink;
  Parsed(std::string text, haven::http::MessageKind kind) : wire(std::move(text)) {
    haven::http::MessageParser parser(kind, sink);
    parser.execute(wire.data(), wire.data(), wire.size());
  }
  const MessageHead& head() const { return sink.head; }
  const char* base() const { return wire.data(); }
};

Parsed request(std::string text) { return {std::move(text), haven::http::MessageKind::Request}; }
Parsed response(std::string text) { return {std::move(text), haven::http::MessageKind::Response}; }

StaleResponse verdict(const std::string& fields, int status = 200, std::uint64_t max_entry = 1000) {
  const Parsed r = response("HTTP/1.1 " + std::to_string(status) + " X\r\n" + fields + "\r\n");
  std::vector<std::string> vary;
  return stale_response_verdict(r.head(), r.base(), max_entry, vary);
}

}  // namespace

TEST_CASE("requests: GET is kept and answered, HEAD only answered, the rest neither") {
  const std::vector<std::string> none;
  const Parsed get = request("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(stale_request_verdict(get.head(), get.base(), none, true) == StaleRequest::Eligible);
  CHECK(stale_request_verdict(get.head(), get.base(), none, false) == StaleRequest::Eligible);
  const Parsed head = request("HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(stale_request_verdict(head.head(), head.base(), none, true) == StaleRequest::Method);
  CHECK(stale_request_verdict(head.head(), head.base(), none, false) == StaleRequest::Eligible);
  const Parsed post = request("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  CHECK(stale_request_verdict(post.head(), post.base(), none, false) == StaleRequest::Method);
  const Parsed auth = request("GET /a HTTP/1.1\r\nHost: h\r\nauthorization: Basic eA==\r\n\r\n");
  CHECK(stale_request_verdict(auth.head(), auth.base(), none, false) == StaleRequest::Authorization);
}

TEST_CASE("requests: paths limit what is kept, by segment") {
  const std::vector<std::string> paths{"/api", "/static/"};
  for (const char* ok : {"/api", "/api/x", "/api?x=1", "/static/app.js"}) {
    const Parsed r = request(std::string("GET ") + ok + " HTTP/1.1\r\nHost: h\r\n\r\n");
    CAPTURE(ok);
    CHECK(stale_request_verdict(r.head(), r.base(), paths, true) == StaleRequest::Eligible);
  }
  for (const char* no : {"/apis", "/", "/static"}) {
    const Parsed r = request(std::string("GET ") + no + " HTTP/1.1\r\nHost: h\r\n\r\n");
    CAPTURE(no);
    CHECK(stale_request_verdict(r.head(), r.base(), paths, true) == StaleRequest::Path);
  }
}

TEST_CASE("responses: each rule") {
  CHECK(verdict("Content-Length: 5\r\n") == StaleResponse::Keep);
  CHECK(verdict("Content-Length: 5\r\n", 404) == StaleResponse::Status);
  CHECK(verdict("Content-Length: 5\r\n", 206) == StaleResponse::Status);
  CHECK(verdict("Content-Length: 5\r\nSet-Cookie: a=1\r\n") == StaleResponse::SetCookie);
  CHECK(verdict("Content-Length: 5\r\nCache-Control: max-age=5, private\r\n") == StaleResponse::Private);
  CHECK(verdict("Content-Length: 5\r\nCache-Control: private=\"x\"\r\n") == StaleResponse::Private);
  CHECK(verdict("Content-Length: 5\r\ncache-control: No-Store\r\n") == StaleResponse::Private);
  CHECK(verdict("Content-Length: 5\r\nCache-Control: public, max-age=60\r\n") == StaleResponse::Keep);
  CHECK(verdict("Content-Length: 5\r\nVary: Accept, *\r\n") == StaleResponse::VaryAll);
  CHECK(verdict("Content-Length: 1001\r\n") == StaleResponse::TooLarge);
  CHECK(verdict("Content-Length: 1000\r\n") == StaleResponse::Keep);
  CHECK(verdict("Transfer-Encoding: gzip, chunked\r\n") == StaleResponse::Codings);
  CHECK(verdict("Transfer-Encoding: chunked\r\n") == StaleResponse::Keep);
}

TEST_CASE("responses: Vary names come back in lower case") {
  const Parsed r = response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nVary: Accept-Encoding, Accept-Language\r\n"
                            "vary: X-Theme\r\n\r\n");
  std::vector<std::string> vary;
  CHECK(stale_response_verdict(r.head(), r.base(), 100, vary) == StaleResponse::Keep);
  CHECK(vary == std::vector<std::string>{"accept-encoding", "accept-language", "x-theme"});
}

TEST_CASE("the key is the host (any case) and the target; request fields by name") {
  const Parsed r = request("GET /p?q=1 HTTP/1.1\r\nHost: Example.COM\r\nAccept-Encoding: gzip\r\n\r\n");
  std::string key;
  stale_key(key, r.head(), r.base());
  CHECK(key == "example.com /p?q=1");
  CHECK(request_field(r.head(), r.base(), "accept-encoding") == "gzip");
  CHECK(request_field(r.head(), r.base(), "accept-language").empty());
}
