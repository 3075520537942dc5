#include "haven/net/out_queue.hpp"

namespace haven::net {

void OutQueue::add_arena_since(std::size_t arena_offset) {
  const std::size_t length = arena_.size() - arena_offset;
  if (length == 0) return;
  bytes_ += length;
  // Adjacent arena pieces merge: a head followed by a chunk header is one slice.
  if (!pieces_.empty() && pieces_.back().external == nullptr &&
      pieces_.back().offset + pieces_.back().length == arena_offset) {
    pieces_.back().length += static_cast<std::uint32_t>(length);
    return;
  }
  pieces_.push_back({nullptr, static_cast<std::uint32_t>(arena_offset), static_cast<std::uint32_t>(length)});
}

void OutQueue::add_external(const char* data, std::size_t length) {
  if (length == 0) return;
  if (pieces_.size() >= kMaxPieces) {
    add_copy({data, length});
    return;
  }
  bytes_ += length;
  pieces_.push_back({data, 0, static_cast<std::uint32_t>(length)});
}

void OutQueue::add_copy(std::string_view text) {
  const std::size_t offset = arena_.size();
  arena_.append(text);
  add_arena_since(offset);
}

std::span<const IoSlice> OutQueue::slices() {
  std::size_t count = 0;
  if (!head_.empty()) slices_[count++] = {head_.data(), head_.size()};
  for (const auto& piece : pieces_) {
    const char* data = piece.external != nullptr ? piece.external : arena_.data() + piece.offset;
    slices_[count++] = {data, piece.length};
  }
  return {slices_.data(), count};
}

void OutQueue::clear() {
  head_.clear();
  arena_.clear();
  pieces_.clear();
  bytes_ = 0;
}

}  // namespace haven::net
