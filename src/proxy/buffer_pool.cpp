#include "haven/proxy/buffer_pool.hpp"

#include <sys/mman.h>

#include <new>

namespace haven::proxy {

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
  if (free_.empty()) return map_buffer();
  Buffer* buffer = free_.back();
  free_.pop_back();
  buffer->end = 0;
  return buffer;
}

void BufferPool::release(Buffer* buffer) {
  if (buffer == nullptr) return;
  if (free_.size() >= kMaxFree) {
    unmap_buffer(buffer);
    return;
  }
  free_.push_back(buffer);
}

}  // namespace haven::proxy
