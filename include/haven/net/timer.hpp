#pragma once
// A one-shot/repeating timer owned by value. The owner must stay alive until on_closed fires
// after close().
#include <cstdint>
#include <memory>

#include "haven/core/duration.hpp"
#include "haven/net/loop.hpp"

namespace haven::net {

class HandleOwner {
 public:
  // One of the owner's handles has finished closing; its memory may go once all have.
  virtual void on_handle_closed() = 0;

 protected:
  ~HandleOwner() = default;
};

class Timer {
 public:
  using Callback = void (*)(void* owner);

  Timer(Loop& loop, Callback callback, void* owner);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Points the timer at another owner (a pooled connection changes hands).
  void set_callback(Callback callback, void* owner) {
    callback_ = callback;
    owner_ = owner;
  }
  void start(core::Duration timeout, core::Duration repeat = core::Duration(0));
  void stop();
  [[nodiscard]] bool active() const;
  // Idempotent. `closed_owner`, when given, is told once the handle is closed.
  void close(HandleOwner* closed_owner = nullptr);
  [[nodiscard]] bool closing() const { return closing_; }

 private:
  friend struct TimerAccess;
  // uv_timer_t lives here in place (libuv handles must not move); net/*.cpp check the size.
  alignas(16) unsigned char handle_[152];
  Callback callback_;
  void* owner_;
  HandleOwner* closed_owner_ = nullptr;
  bool closing_ = false;
};

}  // namespace haven::net
