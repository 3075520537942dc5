#pragma once
// Read buffers, taken from a per-worker free list only while a connection has bytes to hold:
// an idle keep-alive connection keeps no buffer, which is what keeps it small.
#include <cstddef>
#include <vector>

namespace haven::proxy {

struct Buffer {
  static constexpr std::size_t kSize = 32 * 1024;  // whole pages, mapped on their own
  static constexpr std::size_t kCapacity = kSize - sizeof(std::size_t);
  std::size_t end = 0;  // bytes [0, end) hold data
  char data[kCapacity];

  [[nodiscard]] std::size_t space() const { return kCapacity - end; }
};

// Buffers are mapped pages rather than heap memory, so that after a burst the memory goes back to
// the system instead of staying in the allocator; the pool keeps a few for the steady state.
class BufferPool {
 public:
  static constexpr std::size_t kMaxFree = 64;

  BufferPool() = default;
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool();

  // nullptr when the system has no memory left: the caller ends that one connection.
  Buffer* acquire();
  void release(Buffer* buffer);

 private:
  static Buffer* map_buffer();
  static void unmap_buffer(Buffer* buffer);
  std::vector<Buffer*> free_;
};

}  // namespace haven::proxy
