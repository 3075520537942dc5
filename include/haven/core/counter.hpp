#pragma once
// A count with exactly one writer (the worker thread that owns it) and any number of readers.
// The writer does a relaxed load and store, not an atomic read-modify-write: no lock prefix and no
// contended cache line on the request path, while a reader on another thread never sees a torn or
// racy value.
#include <atomic>
#include <cstdint>

namespace haven::core {

class Counter {
 public:
  // Only from the owning thread.
  void add(std::uint64_t amount = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
  // From any thread.
  [[nodiscard]] std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value one thread sets and others read (a gauge such as open connections of one worker).
class Gauge {
 public:
  void add(std::int64_t amount) {
    value_.store(value_.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
  [[nodiscard]] std::int64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

}  // namespace haven::core
