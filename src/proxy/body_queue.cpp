#include "haven/proxy/body_queue.hpp"

#include "haven/http/head_writer.hpp"

namespace haven::proxy {

void queue_body(net::OutQueue& queue, const char* data, std::size_t length, bool chunked) {
  if (chunked) {
    std::string& arena = queue.arena();
    const std::size_t start = arena.size();
    http::append_chunk_header(arena, length);
    queue.add_arena_since(start);
  }
  queue.add_external(data, length);
  if (chunked) queue.add_external("\r\n", 2);
}

}  // namespace haven::proxy
