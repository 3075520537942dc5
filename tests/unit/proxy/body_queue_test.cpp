#include "haven/proxy/body_queue.hpp"

#include <string>

#include <doctest/doctest.h>

using haven::net::OutQueue;
using haven::proxy::queue_body;

namespace {
std::string joined(OutQueue& queue) {
  std::string out;
  for (const auto& slice : queue.slices()) out.append(slice.data, slice.length);
  return out;
}
}  // namespace

TEST_CASE("a chunked body goes out as chunks, after the head however late it was written") {
  OutQueue queue;
  const std::string body = "hello";
  queue_body(queue, body.data(), body.size(), /*chunked=*/true);
  queue.head() = "HEAD\r\n\r\n";
  queue.add_copy("0\r\n\r\n");
  CHECK(joined(queue) == "HEAD\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  CHECK(queue.bytes() == joined(queue).size());
}

TEST_CASE("a body with a length goes out as it is") {
  OutQueue queue;
  const std::string body = "hello";
  queue_body(queue, body.data(), body.size(), /*chunked=*/false);
  CHECK(joined(queue) == "hello");
}

TEST_CASE("many small chunks never exceed one write's slice limit") {
  OutQueue queue;
  const std::string piece = "x";
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    queue_body(queue, piece.data(), piece.size(), /*chunked=*/true);
    expected += "1\r\nx\r\n";
  }
  CHECK(queue.slices().size() <= haven::net::TcpStream::kMaxSlices);
  CHECK(joined(queue) == expected);
}
