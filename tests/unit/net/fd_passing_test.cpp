#include "haven/net/fd_passing.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

using haven::net::kMaxFdsPerFrame;
using haven::net::receive_frame;
using haven::net::receive_line;
using haven::net::ReceivedFrame;
using haven::net::send_all;
using haven::net::send_frame;

namespace {

constexpr std::chrono::milliseconds kWait{2000};

struct SocketPair {
  int a = -1;
  int b = -1;
  SocketPair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    a = fds[0];
    b = fds[1];
  }
  ~SocketPair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

// A pipe whose write end travels: what is written through the received copy arrives at `read_end`.
struct Pipe {
  int read_end = -1;
  int write_end = -1;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    read_end = fds[0];
    write_end = fds[1];
  }
  ~Pipe() {
    ::close(read_end);
    ::close(write_end);
  }
};

}  // namespace

TEST_CASE("a frame carries its payload and descriptors that stay usable") {
  SocketPair pair;
  Pipe first;
  Pipe second;
  const int sent[] = {first.write_end, second.write_end};
  REQUIRE(send_frame(pair.a, R"({"listeners":2})", sent, kWait).empty());
  ReceivedFrame frame;
  REQUIRE(receive_frame(pair.b, frame, kWait).empty());
  CHECK(frame.payload == R"({"listeners":2})");
  REQUIRE(frame.fds.size() == 2);
  CHECK(::write(frame.fds[1], "x", 1) == 1);
  char c = 0;
  CHECK(::read(second.read_end, &c, 1) == 1);
  CHECK(c == 'x');
  for (const int fd : frame.fds) ::close(fd);
}

TEST_CASE("frames follow each other without mixing their descriptors") {
  SocketPair pair;
  std::vector<Pipe> pipes(kMaxFdsPerFrame + 3);
  std::vector<int> ends;
  for (const Pipe& pipe : pipes) ends.push_back(pipe.write_end);
  REQUIRE(send_frame(pair.a, "first", {ends.data(), kMaxFdsPerFrame}, kWait).empty());
  REQUIRE(send_frame(pair.a, "", {ends.data() + kMaxFdsPerFrame, 3}, kWait).empty());
  ReceivedFrame one;
  ReceivedFrame two;
  REQUIRE(receive_frame(pair.b, one, kWait).empty());
  REQUIRE(receive_frame(pair.b, two, kWait).empty());
  CHECK(one.payload == "first");
  CHECK(one.fds.size() == kMaxFdsPerFrame);
  CHECK(two.payload.empty());
  CHECK(two.fds.size() == 3);
  for (const int fd : one.fds) ::close(fd);
  for (const int fd : two.fds) ::close(fd);
}

TEST_CASE("a large payload arrives whole") {
  SocketPair pair;
  const std::string big(3 * 1024 * 1024, 'z');
  std::string error;
  // The receiver reads while the sender still sends: the socket buffer is smaller than the frame.
  std::thread sender([&] { error = send_frame(pair.a, big, {}, kWait); });
  ReceivedFrame frame;
  const std::string received = receive_frame(pair.b, frame, kWait);
  sender.join();
  CHECK(error.empty());
  CHECK(received.empty());
  CHECK(frame.payload == big);
}

TEST_CASE("a peer that goes away or says too much is an error, never a hang") {
  SocketPair pair;
  SUBCASE("closed before a whole frame") {
    const std::uint32_t header[2] = {100, 0};
    REQUIRE(::write(pair.a, header, sizeof header) == sizeof header);
    ::close(pair.a);
    pair.a = -1;
    ReceivedFrame frame;
    CHECK(receive_frame(pair.b, frame, kWait) == "the other side closed the connection");
  }
  SUBCASE("a frame larger than the limit") {
    const std::uint32_t header[2] = {static_cast<std::uint32_t>(haven::net::kMaxFramePayload + 1), 0};
    REQUIRE(::write(pair.a, header, sizeof header) == sizeof header);
    ReceivedFrame frame;
    CHECK(receive_frame(pair.b, frame, kWait) == "frame too large");
  }
  SUBCASE("nothing within the deadline") {
    ReceivedFrame frame;
    CHECK(receive_frame(pair.b, frame, std::chrono::milliseconds(50)) == "timed out");
  }
  SUBCASE("a line without its end") {
    REQUIRE(send_all(pair.a, std::string(600, 'a'), kWait).empty());
    std::string line;
    CHECK(receive_line(pair.b, line, 512, kWait) == "line too long");
  }
}

TEST_CASE("lines are read up to their newline") {
  SocketPair pair;
  REQUIRE(send_all(pair.a, "ready\nnext\n", kWait).empty());
  std::string line;
  REQUIRE(receive_line(pair.b, line, 64, kWait).empty());
  CHECK(line == "ready");
  REQUIRE(receive_line(pair.b, line, 64, kWait).empty());
  CHECK(line == "next");
}

TEST_CASE("a header that promises descriptors it does not carry is refused, and nothing leaks") {
  SocketPair pair;
  const std::uint32_t header[2] = {2, 3};  // three descriptors said, none sent
  REQUIRE(::write(pair.a, header, sizeof header) == sizeof header);
  REQUIRE(::write(pair.a, "{}", 2) == 2);
  ReceivedFrame frame;
  CHECK(receive_frame(pair.b, frame, kWait) == "descriptors missing from a frame");
  CHECK(frame.fds.empty());
}

TEST_CASE("more descriptors than one frame may carry are refused by the sender") {
  SocketPair pair;
  std::vector<int> many(kMaxFdsPerFrame + 1, pair.a);
  CHECK(send_frame(pair.a, "", many, kWait) == "too many descriptors for one frame");
}
