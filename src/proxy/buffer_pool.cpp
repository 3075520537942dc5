#include "haven/proxy/buffer_pool.hpp"

namespace haven::proxy {

BufferPool::~BufferPool() {
  for (Buffer* buffer : free_) delete buffer;
}

Buffer* BufferPool::acquire() {
  if (free_.empty()) return new Buffer;
  Buffer* buffer = free_.back();
  free_.pop_back();
  buffer->end = 0;
  return buffer;
}

void BufferPool::release(Buffer* buffer) {
  if (buffer == nullptr) return;
  if (free_.size() >= kMaxFree) {
    delete buffer;
    return;
  }
  free_.push_back(buffer);
}

}  // namespace haven::proxy
