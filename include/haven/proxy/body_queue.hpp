#pragma once
// Body bytes queued for one side as the message's framing asks: as they are, or as one chunk of
// the chunked coding (size line, bytes, CRLF). The bytes are not copied; they must stay valid
// until the queue is written.
#include <cstddef>

#include "haven/net/out_queue.hpp"

namespace haven::proxy {

void queue_body(net::OutQueue& queue, const char* data, std::size_t length, bool chunked);

}  // namespace haven::proxy
