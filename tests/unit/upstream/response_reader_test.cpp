#include "haven/upstream/response_reader.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

using haven::upstream::ResponseReader;
using haven::upstream::ResponseStep;
namespace http = haven::http;
namespace net = haven::net;

namespace {

struct Collect final : http::MessageSink {
  http::MessageHead head;
  std::string body;
  int heads = 0;
  int completes = 0;
  http::MessageHead& on_message_begin() override { return head; }
  int on_head(http::MessageHead& /*head*/) override {
    ++heads;
    return http::kSinkContinue;
  }
  void on_body(const char* data, std::size_t length) override { body.append(data, length); }
  int on_message_complete() override {
    ++completes;
    // As exchanges do: after a 101 the parser goes on, to report the upgrade.
    return head.status == 101 ? http::kSinkContinue : http::kSinkPause;
  }
};

// Copies `bytes` in as reads of at most `step` bytes would, parsing after each.
ResponseStep feed(ResponseReader& reader, net::BufferPool& pool, std::string_view bytes, std::size_t step) {
  ResponseStep last = ResponseStep::NeedMore;
  while (!bytes.empty()) {
    std::size_t capacity = 0;
    char* at = reader.alloc(pool, capacity, false);
    REQUIRE(at != nullptr);
    const std::size_t n = std::min({capacity, step, bytes.size()});
    std::memcpy(at, bytes.data(), n);
    reader.received(n);
    bytes.remove_prefix(n);
    last = reader.parse();
    if (last != ResponseStep::NeedMore) return last;
  }
  return last;
}

}  // namespace

TEST_CASE("a response read in small pieces completes once, with its whole body") {
  net::BufferPool pool;
  Collect sink;
  ResponseReader reader(sink);
  reader.begin({}, false);
  const std::string response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  CHECK(feed(reader, pool, response, 3) == ResponseStep::Complete);
  CHECK(sink.head.status == 200);
  CHECK(sink.body == "hello world");
  CHECK(sink.completes == 1);
  CHECK_FALSE(reader.unread_bytes());
  reader.release(pool);
}

TEST_CASE("a response to HEAD has no body whatever its length says") {
  net::BufferPool pool;
  Collect sink;
  ResponseReader reader(sink);
  reader.begin({}, true);
  CHECK(feed(reader, pool, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 1000) == ResponseStep::Complete);
  CHECK(sink.body.empty());
  reader.release(pool);
}

TEST_CASE("a head over the backend's limits is invalid") {
  net::BufferPool pool;
  Collect sink;
  ResponseReader reader(sink);
  http::ParseLimits limits;
  limits.max_headers = 2;
  reader.begin(limits, false);
  CHECK(feed(reader, pool, "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nContent-Length: 0\r\n\r\n", 1000) ==
        ResponseStep::Invalid);
  CHECK_FALSE(reader.failure_reason().empty());
  reader.release(pool);
}

TEST_CASE("bytes behind a complete response are noticed") {
  net::BufferPool pool;
  Collect sink;
  ResponseReader reader(sink);
  reader.begin({}, false);
  CHECK(feed(reader, pool, "HTTP/1.1 204 No Content\r\n\r\nextra", 1000) == ResponseStep::Complete);
  CHECK(reader.unread_bytes());
  reader.release(pool);
}

TEST_CASE("once passed on, parsed body bytes free the buffer; an unfinished head stays") {
  net::BufferPool pool;
  Collect sink;
  ResponseReader reader(sink);
  reader.begin({}, false);
  CHECK(feed(reader, pool, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", 1000) == ResponseStep::NeedMore);
  reader.consumed();
  std::size_t capacity = 0;
  char* at = reader.alloc(pool, capacity, false);
  CHECK(capacity == net::Buffer::kBodyCapacity);  // the buffer starts over
  std::memcpy(at, "67890", 5);
  reader.received(5);
  CHECK(reader.parse() == ResponseStep::Complete);
  CHECK(sink.body == "1234567890");
  reader.release(pool);

  Collect second;
  ResponseReader partial(second);
  partial.begin({}, false);
  CHECK(feed(partial, pool, "HTTP/1.1 200 OK\r\nContent-Le", 1000) == ResponseStep::NeedMore);
  partial.consumed();  // spans of the unfinished head point into the buffer: nothing moves
  CHECK(feed(partial, pool, "ngth: 0\r\n\r\n", 1000) == ResponseStep::Complete);
  CHECK(second.head.status == 200);
  partial.release(pool);
}

TEST_CASE("a 101 hands the bytes behind it to the tunnel") {
  net::BufferPool pool;
  Collect sink;
  ResponseReader reader(sink);
  reader.begin({}, false);
  CHECK(feed(reader, pool, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nframe",
             1000) == ResponseStep::Upgrade);
  net::Buffer* buffer = reader.take_buffer_for_tunnel();
  REQUIRE(buffer != nullptr);
  CHECK(std::string_view(buffer->data, buffer->end) == "frame");
  pool.release(buffer);
}
