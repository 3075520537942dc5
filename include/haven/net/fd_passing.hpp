#pragma once
// Frames over a connected unix stream socket that may carry file descriptors (SCM_RIGHTS): how a
// running haven hands its listening sockets to the binary that replaces it. A frame is
//   [u32 payload length][u32 descriptor count][payload]
// (host byte order: both ends are on one machine), sent with its descriptors in one sendmsg, so
// the descriptors always arrive with the frame's first bytes. Blocking, each call bounded by a
// deadline: the two ends are processes of the same user on the same machine.
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace haven::net {

// At most this many descriptors ride in one frame (the kernel's limit is 253).
inline constexpr std::size_t kMaxFdsPerFrame = 200;
// Frames larger than this are refused by the receiver (the state of tens of thousands of servers).
inline constexpr std::size_t kMaxFramePayload = 16 * 1024 * 1024;

// Sends one frame. Returns "" or why not.
std::string send_frame(int socket, std::string_view payload, std::span<const int> fds,
                       std::chrono::milliseconds timeout);

struct ReceivedFrame {
  std::string payload;
  std::vector<int> fds;  // owned by the caller from here on (close them)
};

// Receives one frame. Returns "" or why not; on failure every descriptor received so far is closed.
std::string receive_frame(int socket, ReceivedFrame& frame, std::chrono::milliseconds timeout);

// Reads up to and without the first '\n', at most `limit` bytes. Returns "" or why not.
std::string receive_line(int socket, std::string& line, std::size_t limit, std::chrono::milliseconds timeout);

// Writes all of `text`. Returns "" or why not.
std::string send_all(int socket, std::string_view text, std::chrono::milliseconds timeout);

}  // namespace haven::net
