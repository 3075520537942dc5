#pragma once
// Read buffers, taken from a per-worker free list only while a connection has bytes to hold:
// an idle keep-alive connection keeps no buffer, which is what keeps it small. Below any protocol:
// plain TCP and TLS streams use the same buffers.
#include <cstddef>
#include <vector>

namespace haven::net {

struct Buffer {
  // Whole pages, mapped on their own. A head is parsed in one buffer: the largest head a limit may
  // allow fits with room to spare. Only the pages bytes land in become resident, and bodies and
  // tunnels use the first kBodyCapacity bytes only, so a stalled transfer pins no more memory than
  // before large heads were allowed.
  static constexpr std::size_t kSize = 80 * 1024;
  static constexpr std::size_t kCapacity = kSize - sizeof(std::size_t);
  static constexpr std::size_t kBodyCapacity = 32 * 1024 - sizeof(std::size_t);
  std::size_t end = 0;  // bytes [0, end) hold data
  char data[kCapacity];

  // How many more bytes may be read in: all of the buffer while a head is unfinished, else up to
  // kBodyCapacity.
  [[nodiscard]] std::size_t room(bool head_unfinished) const {
    const std::size_t limit = head_unfinished ? kCapacity : kBodyCapacity;
    return end >= limit ? 0 : limit - end;
  }
};

// Buffers are mapped pages rather than heap memory, so that after a burst the memory goes back to
// the system instead of staying in the allocator. Under steady load the pool keeps as many as the
// load needs (mapping and unmapping per request would cost far more than the copy it saves);
// trim() gives back what recent demand did not use.
class BufferPool {
 public:
  static constexpr std::size_t kMinFree = 16;

  BufferPool() = default;
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool();

  // nullptr when the system has no memory left: the caller ends that one connection.
  Buffer* acquire();
  void release(Buffer* buffer);
  // Called periodically: keeps free buffers for the peak use seen since the last call.
  void trim();
  [[nodiscard]] std::size_t free_count() const { return free_.size(); }

 private:
  static Buffer* map_buffer();
  static void unmap_buffer(Buffer* buffer);
  std::vector<Buffer*> free_;
  std::size_t in_use_ = 0;
  std::size_t peak_in_use_ = 0;  // since the last trim
};

}  // namespace haven::net
