#include "haven/upstream/response_reader.hpp"

#include <cstring>

namespace haven::upstream {

void ResponseReader::begin(const http::ParseLimits& limits, bool head_request) {
  parser_.reset();
  parser_.set_limits(limits);
  parser_.set_skip_body(head_request);
}

char* ResponseReader::alloc(net::BufferPool& buffers, std::size_t& capacity, bool raw) {
  if (in_ == nullptr) in_ = buffers.acquire();
  if (in_ == nullptr) {
    capacity = 0;
    return nullptr;
  }
  capacity = in_->room(!raw && !parser_.head_complete());
  if (capacity == 0) capacity = in_->room(true);
  return in_->data + in_->end;
}

ResponseStep ResponseReader::parse() {
  const auto result = parser_.execute(in_->data, in_->data + parsed_, in_->end - parsed_);
  parsed_ += result.consumed;
  switch (result.status) {
    case http::ExecuteStatus::Done:
      // A head that does not fit in a buffer is over any limit a backend may set.
      if (!parser_.head_complete() && in_->room(true) == 0) return ResponseStep::Invalid;
      return ResponseStep::NeedMore;
    case http::ExecuteStatus::Paused:
      return ResponseStep::Complete;
    case http::ExecuteStatus::Upgrade:
      return ResponseStep::Upgrade;
    case http::ExecuteStatus::Error:
      return ResponseStep::Invalid;
  }
  return ResponseStep::Invalid;
}

bool ResponseReader::finish_at_close() {
  if (!parser_.in_message() || !parser_.head_complete()) return false;
  return parser_.finish().status != http::ExecuteStatus::Error;
}

void ResponseReader::consumed() {
  if (in_ != nullptr && parser_.head_complete() && parsed_ == in_->end) in_->end = parsed_ = 0;
}

net::Buffer* ResponseReader::take_buffer_for_tunnel() {
  net::Buffer* buffer = in_;
  if (buffer != nullptr) {
    std::memmove(buffer->data, buffer->data + parsed_, buffer->end - parsed_);
    buffer->end -= parsed_;
  }
  in_ = nullptr;
  parsed_ = 0;
  return buffer;
}

void ResponseReader::release(net::BufferPool& buffers) {
  buffers.release(in_);
  in_ = nullptr;
  parsed_ = 0;
}

}  // namespace haven::upstream
