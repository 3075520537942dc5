#pragma once
// A timeout that is pushed back far more often than it fires (every read of a busy connection
// moves it). Moving it later costs no timer-heap operation: the timer stays armed for the old
// time and, when it fires early, re-arms itself for the rest.
#include <cstdint>

#include "haven/core/duration.hpp"
#include "haven/net/loop.hpp"
#include "haven/net/timer.hpp"

namespace haven::net {

class Deadline {
 public:
  using Callback = Timer::Callback;

  Deadline(Loop& loop, Callback callback, void* owner);
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void set_callback(Callback callback, void* owner) {
    callback_ = callback;
    owner_ = owner;
  }
  // Expires `timeout` from now (the loop's clock), replacing any earlier setting.
  void set(core::Duration timeout);
  // Never expires (until set again).
  void clear() { deadline_ms_ = 0; }
  void close(HandleOwner* closed_owner) { timer_.close(closed_owner); }

 private:
  static void on_timer(void* self) noexcept;

  Timer timer_;
  Loop& loop_;
  Callback callback_;
  void* owner_;
  std::uint64_t deadline_ms_ = 0;  // 0: none
  std::uint64_t armed_for_ms_ = 0;  // when the timer fires; 0: not armed
};

}  // namespace haven::net
