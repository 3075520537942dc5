#include "haven/net/buffer_pool.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <new>

namespace haven::net {

static_assert(sizeof(Buffer) == Buffer::kSize);

Buffer* BufferPool::map_buffer() {
  void* memory = mmap(nullptr, sizeof(Buffer), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return nullptr;
  return new (memory) Buffer;
}

void BufferPool::unmap_buffer(Buffer* buffer) { munmap(buffer, sizeof(Buffer)); }

BufferPool::~BufferPool() {
  for (Buffer* buffer : free_) unmap_buffer(buffer);
}

Buffer* BufferPool::acquire() {
  Buffer* buffer = nullptr;
  if (free_.empty()) {
    buffer = map_buffer();
    if (buffer == nullptr) return nullptr;
  } else {
    buffer = free_.back();
    free_.pop_back();
    buffer->end = 0;
  }
  peak_in_use_ = std::max(peak_in_use_, ++in_use_);
  return buffer;
}

void BufferPool::release(Buffer* buffer) {
  if (buffer == nullptr) return;
  --in_use_;
  free_.push_back(buffer);
}

void BufferPool::trim() {
  // Enough free buffers that the recent peak could be reached again without mapping any.
  const std::size_t keep = std::max(kMinFree, peak_in_use_ > in_use_ ? peak_in_use_ - in_use_ : 0);
  while (free_.size() > keep) {
    unmap_buffer(free_.back());
    free_.pop_back();
  }
  peak_in_use_ = in_use_;
}

}  // namespace haven::net
