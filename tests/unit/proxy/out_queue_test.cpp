#include "haven/proxy/out_queue.hpp"

#include <string>

#include <doctest/doctest.h>

using haven::proxy::OutQueue;

namespace {
std::string joined(OutQueue& queue) {
  std::string out;
  for (const auto& slice : queue.slices()) out.append(slice.data, slice.length);
  return out;
}
}  // namespace

TEST_CASE("the head goes first, then body pieces in order") {
  OutQueue queue;
  const std::string body = "hello";
  queue.add_body(body.data(), body.size(), /*chunked=*/true);
  queue.head() = "HEAD\r\n\r\n";
  queue.add_copy("0\r\n\r\n");
  CHECK(joined(queue) == "HEAD\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  CHECK(queue.bytes() == joined(queue).size());
  queue.clear();
  CHECK(queue.empty());
  CHECK(queue.slices().empty());
}

TEST_CASE("many small pieces never exceed one write's slice limit") {
  OutQueue queue;
  const std::string piece = "x";
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    queue.add_body(piece.data(), piece.size(), /*chunked=*/true);
    expected += "1\r\nx\r\n";
  }
  CHECK(queue.slices().size() <= haven::net::TcpStream::kMaxSlices);
  CHECK(joined(queue) == expected);
}
