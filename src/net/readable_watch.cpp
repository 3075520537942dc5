#include "haven/net/readable_watch.hpp"

#include <uv.h>

namespace haven::net {

static_assert(sizeof(uv_poll_t) <= 168 && alignof(uv_poll_t) <= 16);

struct ReadableWatchAccess {
  static uv_poll_t* handle(ReadableWatch& watch) { return reinterpret_cast<uv_poll_t*>(watch.handle_); }
  static void on_poll(uv_poll_t* handle, int /*status*/, int /*events*/) noexcept {
    // An error on the descriptor is news too: the owner reads and learns what it is.
    auto* watch = static_cast<ReadableWatch*>(handle->data);
    watch->callback_(watch->owner_);
  }
  static void on_close(uv_handle_t* handle) noexcept {
    auto* watch = static_cast<ReadableWatch*>(handle->data);
    if (watch->closed_owner_ != nullptr) watch->closed_owner_->on_handle_closed();
  }
};

ReadableWatch::ReadableWatch(Loop& loop, Callback callback, void* owner)
    : loop_(loop), callback_(callback), owner_(owner) {}

void ReadableWatch::start(int fd) {
  if (started_ || closing_) return;
  started_ = true;
  uv_poll_t* handle = ReadableWatchAccess::handle(*this);
  uv_poll_init_socket(loop_.get(), handle, fd);
  handle->data = this;
  uv_poll_start(handle, UV_READABLE | UV_DISCONNECT, &ReadableWatchAccess::on_poll);
}

void ReadableWatch::close(HandleOwner* closed_owner) {
  if (closing_) return;
  closing_ = true;
  closed_owner_ = closed_owner;
  if (!started_) {
    if (closed_owner_ != nullptr) closed_owner_->on_handle_closed();
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(ReadableWatchAccess::handle(*this)), &ReadableWatchAccess::on_close);
}

}  // namespace haven::net
