#include "haven/net/out_queue.hpp"

#include <string>

#include <doctest/doctest.h>

using haven::net::OutQueue;

namespace {
std::string joined(OutQueue& queue) {
  std::string out;
  for (const auto& slice : queue.slices()) out.append(slice.data, slice.length);
  return out;
}
}  // namespace

TEST_CASE("the head goes first, then the pieces in order") {
  OutQueue queue;
  const std::string body = "hello";
  queue.add_external(body.data(), body.size());
  queue.head() = "HEAD\r\n\r\n";
  queue.add_copy("tail");
  CHECK(joined(queue) == "HEAD\r\n\r\nhellotail");
  CHECK(queue.bytes() == joined(queue).size());
  queue.clear();
  CHECK(queue.empty());
  CHECK(queue.slices().empty());
}

TEST_CASE("adjacent arena pieces are one slice") {
  OutQueue queue;
  queue.add_copy("ab");
  queue.add_copy("cd");
  CHECK(queue.slices().size() == 1);
  CHECK(joined(queue) == "abcd");
}

TEST_CASE("many external pieces never exceed one write's slice limit") {
  OutQueue queue;
  const std::string piece = "x";
  const std::string gap = "-";
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    queue.add_external(piece.data(), piece.size());
    queue.add_external(gap.data(), gap.size());
    expected += "x-";
  }
  CHECK(queue.slices().size() <= haven::net::TcpStream::kMaxSlices);
  CHECK(joined(queue) == expected);
}
