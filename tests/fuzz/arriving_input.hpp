#pragma once
// The fuzz input as it reaches haven over a connection: one buffer (the read buffer, which the
// parser's spans point into) filled in a few reads. Bytes that have not arrived yet are poisoned
// under AddressSanitizer, so a parser that looks past the end of the current read is caught even
// though the memory is there.
#include <sanitizer/asan_interface.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace haven::fuzz {

// A number derived from the bytes alone (FNV-1a), for choices a harness makes about an input
// (where reads end, what request a response answers) without spending input bytes on them: the
// seed corpora stay plain HTTP and TOML.
inline std::uint64_t derive_seed(std::string_view bytes) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

class ArrivingInput {
 public:
  enum class Reads {
    One,      // everything in one read
    Several,  // up to four reads, cut where the seed says
  };

  // Copies `bytes` into a buffer of exactly their size, so reading past the end is caught too.
  ArrivingInput(std::string_view bytes, Reads reads)
      : size_(bytes.size()), buffer_(std::make_unique<char[]>(bytes.size())) {
    if (size_ != 0) std::memcpy(buffer_.get(), bytes.data(), size_);
    if (reads == Reads::Several) {
      std::uint64_t seed = derive_seed(bytes);
      const auto cut_count = static_cast<std::size_t>(seed % 4);
      for (std::size_t i = 0; i < cut_count; ++i) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;  // next LCG step
        const std::size_t cut = static_cast<std::size_t>(seed >> 33) % (size_ + 1);
        if (cut != 0 && cut != size_) read_ends_.push_back(cut);
      }
      std::sort(read_ends_.begin(), read_ends_.end());
      read_ends_.erase(std::unique(read_ends_.begin(), read_ends_.end()), read_ends_.end());
    }
    read_ends_.push_back(size_);
    ASAN_POISON_MEMORY_REGION(buffer_.get(), size_);
  }

  ~ArrivingInput() { ASAN_UNPOISON_MEMORY_REGION(buffer_.get(), size_); }

  ArrivingInput(const ArrivingInput&) = delete;
  ArrivingInput& operator=(const ArrivingInput&) = delete;

  // Makes the next read's bytes available; false once every read has happened. An empty input
  // still makes one (empty) read.
  bool next_read() {
    if (next_read_ == read_ends_.size()) return false;
    const std::size_t end = read_ends_[next_read_++];
    ASAN_UNPOISON_MEMORY_REGION(buffer_.get() + arrived_, end - arrived_);
    arrived_ = end;
    return true;
  }

  [[nodiscard]] const char* base() const { return buffer_.get(); }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] std::size_t arrived() const { return arrived_; }
  [[nodiscard]] std::size_t read_count() const { return read_ends_.size(); }

  // `[data, data + length)` lies within the bytes that have arrived.
  [[nodiscard]] bool holds(const char* data, std::size_t length) const {
    // Compared as integers: a pointer outside the buffer cannot be subtracted from base().
    const auto begin = reinterpret_cast<std::uintptr_t>(base());
    const auto at = reinterpret_cast<std::uintptr_t>(data);
    return at >= begin && at - begin <= arrived_ && length <= arrived_ - (at - begin);
  }

 private:
  std::size_t size_;
  std::unique_ptr<char[]> buffer_;
  std::vector<std::size_t> read_ends_;
  std::size_t next_read_ = 0;
  std::size_t arrived_ = 0;
};

}  // namespace haven::fuzz
