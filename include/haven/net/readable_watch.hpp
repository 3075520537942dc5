#pragma once
// Tells its owner when a descriptor it does not own has something to read (or was closed by the
// other side): for the few sockets haven drives by hand outside a Stream, such as the hand-over
// connection of an upgrade in place.
#include "haven/net/loop.hpp"
#include "haven/net/timer.hpp"

namespace haven::net {

class ReadableWatch {
 public:
  using Callback = void (*)(void* owner);

  ReadableWatch(Loop& loop, Callback callback, void* owner);
  ReadableWatch(const ReadableWatch&) = delete;
  ReadableWatch& operator=(const ReadableWatch&) = delete;

  // Starts watching `fd` (which must stay open until close() is done). Once per watch.
  void start(int fd);
  // Idempotent. `closed_owner` is told once the handle is closed; the descriptor stays open.
  void close(HandleOwner* closed_owner);
  [[nodiscard]] bool watching() const { return started_ && !closing_; }

 private:
  friend struct ReadableWatchAccess;
  alignas(16) unsigned char handle_[168];  // uv_poll_t, in place
  Loop& loop_;
  Callback callback_;
  void* owner_;
  HandleOwner* closed_owner_ = nullptr;
  bool started_ = false;
  bool closing_ = false;
};

}  // namespace haven::net
