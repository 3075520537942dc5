#pragma once
// Bytes waiting to be written to one side: slices of a read buffer (forwarded without copying)
// and bytes haven wrote itself (rewritten heads, chunk framing) kept in an arena. Slices are
// turned into pointers only when written, so the arena may grow while the queue fills. Knows no
// protocol: whatever stream writes it (TCP, TLS) sees only slices.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "haven/net/tcp_stream.hpp"

namespace haven::net {

class OutQueue {
 public:
  // A head always goes out before the body pieces, even when serialised after them (the
  // request body is parsed before a server is chosen).
  std::string& head() { return head_; }

  // The arena is writable directly (heads are serialised straight into it); mark what was
  // appended with add_arena_since().
  std::string& arena() { return arena_; }
  void add_arena_since(std::size_t arena_offset);
  // Bytes that stay valid until the write completes (read buffer or static text).
  void add_external(const char* data, std::size_t length);
  void add_copy(std::string_view text);

  [[nodiscard]] bool empty() const { return pieces_.empty() && head_.empty(); }
  [[nodiscard]] std::uint64_t bytes() const { return bytes_ + head_.size(); }
  std::span<const IoSlice> slices();
  void clear();

 private:
  struct Piece {
    const char* external;  // nullptr: the bytes are in the arena at `offset`
    std::uint32_t offset;
    std::uint32_t length;
  };
  // Past this many pieces, further bytes are copied so one write never exceeds the slice limit.
  static constexpr std::size_t kMaxPieces = TcpStream::kMaxSlices - 5;

  std::string head_;
  std::string arena_;
  std::vector<Piece> pieces_;
  std::array<IoSlice, TcpStream::kMaxSlices> slices_{};
  std::uint64_t bytes_ = 0;
};

}  // namespace haven::net
