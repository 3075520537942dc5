#include "haven/net/deadline.hpp"

namespace haven::net {

Deadline::Deadline(Loop& loop, Callback callback, void* owner)
    : timer_(loop, &Deadline::on_timer, this), loop_(loop), callback_(callback), owner_(owner) {}

void Deadline::set(core::Duration timeout) {
  const std::uint64_t now = loop_.now_ms();
  deadline_ms_ = now + static_cast<std::uint64_t>(timeout.count());
  if (deadline_ms_ == 0) deadline_ms_ = 1;
  // Only a deadline earlier than the armed one needs the timer moved.
  if (armed_for_ms_ == 0 || armed_for_ms_ > deadline_ms_) {
    timer_.start(timeout);
    armed_for_ms_ = deadline_ms_;
  }
}

void Deadline::on_timer(void* self) noexcept {
  auto& deadline = *static_cast<Deadline*>(self);
  deadline.armed_for_ms_ = 0;
  if (deadline.deadline_ms_ == 0) return;
  const std::uint64_t now = deadline.loop_.now_ms();
  if (now < deadline.deadline_ms_) {
    deadline.timer_.start(core::Duration(static_cast<core::Duration::rep>(deadline.deadline_ms_ - now)));
    deadline.armed_for_ms_ = deadline.deadline_ms_;
    return;
  }
  deadline.deadline_ms_ = 0;
  deadline.callback_(deadline.owner_);
}

}  // namespace haven::net
