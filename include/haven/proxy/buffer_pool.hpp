#pragma once
// Read buffers, taken from a per-worker free list only while a connection has bytes to hold:
// an idle keep-alive connection keeps no buffer, which is what keeps it small.
#include <cstddef>
#include <vector>

namespace haven::proxy {

struct Buffer {
  static constexpr std::size_t kCapacity = 32 * 1024;
  std::size_t end = 0;  // bytes [0, end) hold data
  char data[kCapacity];

  [[nodiscard]] std::size_t space() const { return kCapacity - end; }
};

class BufferPool {
 public:
  static constexpr std::size_t kMaxFree = 1024;

  BufferPool() = default;
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool();

  Buffer* acquire();
  void release(Buffer* buffer);

 private:
  std::vector<Buffer*> free_;
};

}  // namespace haven::proxy
