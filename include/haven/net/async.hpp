#pragma once
// Cross-thread wake-ups (uv_async_t) and signal watchers (uv_signal_t), held in place.
#include <mutex>

#include "haven/net/loop.hpp"
#include "haven/net/timer.hpp"

namespace haven::net {

// send() may be called from any thread, also once close() was called (it then does nothing);
// the callback runs on the loop's thread (several sends may coalesce into one callback).
class Async {
 public:
  using Callback = void (*)(void* owner);
  Async(Loop& loop, Callback callback, void* owner);
  Async(const Async&) = delete;
  Async& operator=(const Async&) = delete;
  void send();
  void close(HandleOwner* owner);

 private:
  friend struct AsyncAccess;
  alignas(16) unsigned char handle_[136];
  Callback callback_;
  void* owner_;
  HandleOwner* closed_owner_ = nullptr;
  std::mutex mutex_;
  bool closing_ = false;  // under mutex_
};

class Signal {
 public:
  using Callback = void (*)(void* owner, int signal_number);
  Signal(Loop& loop, Callback callback, void* owner);
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;
  void start(int signal_number);
  void close(HandleOwner* owner);

 private:
  friend struct SignalAccess;
  alignas(16) unsigned char handle_[160];
  Callback callback_;
  void* owner_;
  HandleOwner* closed_owner_ = nullptr;
  bool closing_ = false;
};

// Runs a callback once per loop iteration, just before the loop blocks for I/O (used to flush
// batched log lines).
class BeforePoll {
 public:
  using Callback = void (*)(void* owner);
  BeforePoll(Loop& loop, Callback callback, void* owner);
  BeforePoll(const BeforePoll&) = delete;
  BeforePoll& operator=(const BeforePoll&) = delete;
  void close(HandleOwner* owner);

 private:
  friend struct BeforePollAccess;
  alignas(16) unsigned char handle_[128];
  Callback callback_;
  void* owner_;
  HandleOwner* closed_owner_ = nullptr;
  bool closing_ = false;
};

}  // namespace haven::net
