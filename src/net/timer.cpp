#include "haven/net/timer.hpp"

#include <uv.h>

namespace haven::net {

struct TimerAccess {
  static uv_timer_t* handle(Timer& timer) { return reinterpret_cast<uv_timer_t*>(timer.handle_); }
  static const uv_timer_t* handle(const Timer& timer) { return reinterpret_cast<const uv_timer_t*>(timer.handle_); }
  static void on_timer(uv_timer_t* handle) noexcept {
    auto* timer = static_cast<Timer*>(handle->data);
    timer->callback_(timer->owner_);
  }
  static void on_close(uv_handle_t* handle) noexcept {
    auto* timer = static_cast<Timer*>(handle->data);
    if (timer->closed_owner_ != nullptr) timer->closed_owner_->on_handle_closed();
  }
};

static_assert(sizeof(uv_timer_t) <= 152 && alignof(uv_timer_t) <= 16);

Timer::Timer(Loop& loop, Callback callback, void* owner) : callback_(callback), owner_(owner) {
  uv_timer_t* handle = TimerAccess::handle(*this);
  uv_timer_init(loop.get(), handle);
  handle->data = this;
}

Timer::~Timer() {
  // The owner waits for on_handle_closed before destroying a timer; a timer destroyed while
  // still open would leave libuv holding freed memory.
}

void Timer::start(core::Duration timeout, core::Duration repeat) {
  if (closing_) return;
  uv_timer_start(TimerAccess::handle(*this), &TimerAccess::on_timer, static_cast<std::uint64_t>(timeout.count()),
                 static_cast<std::uint64_t>(repeat.count()));
}

void Timer::stop() {
  if (!closing_) uv_timer_stop(TimerAccess::handle(*this));
}

bool Timer::active() const { return !closing_ && uv_is_active(reinterpret_cast<const uv_handle_t*>(handle_)) != 0; }

void Timer::close(HandleOwner* closed_owner) {
  if (closing_) return;
  closing_ = true;
  closed_owner_ = closed_owner;
  uv_close(reinterpret_cast<uv_handle_t*>(TimerAccess::handle(*this)), &TimerAccess::on_close);
}

}  // namespace haven::net
