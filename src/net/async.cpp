#include "haven/net/async.hpp"

#include <uv.h>

namespace haven::net {

static_assert(sizeof(uv_async_t) <= 136 && sizeof(uv_signal_t) <= 160 && sizeof(uv_prepare_t) <= 128);

struct AsyncAccess {
  static uv_async_t* handle(Async& a) { return reinterpret_cast<uv_async_t*>(a.handle_); }
  static void on_async(uv_async_t* handle) noexcept {
    auto* self = static_cast<Async*>(handle->data);
    self->callback_(self->owner_);
  }
  static void on_close(uv_handle_t* handle) noexcept {
    auto* self = static_cast<Async*>(handle->data);
    if (self->closed_owner_ != nullptr) self->closed_owner_->on_handle_closed();
  }
};

Async::Async(Loop& loop, Callback callback, void* owner) : callback_(callback), owner_(owner) {
  uv_async_init(loop.get(), AsyncAccess::handle(*this), &AsyncAccess::on_async);
  AsyncAccess::handle(*this)->data = this;
}

void Async::send() {
  // Under the lock that close() takes: a send from another thread never reaches a handle (or a
  // loop) that is being closed.
  const std::lock_guard lock(mutex_);
  if (!closing_) uv_async_send(AsyncAccess::handle(*this));
}

void Async::close(HandleOwner* owner) {
  {
    const std::lock_guard lock(mutex_);
    if (closing_) return;
    closing_ = true;
  }
  closed_owner_ = owner;
  uv_close(reinterpret_cast<uv_handle_t*>(AsyncAccess::handle(*this)), &AsyncAccess::on_close);
}

struct SignalAccess {
  static uv_signal_t* handle(Signal& s) { return reinterpret_cast<uv_signal_t*>(s.handle_); }
  static void on_signal(uv_signal_t* handle, int signal_number) noexcept {
    auto* self = static_cast<Signal*>(handle->data);
    self->callback_(self->owner_, signal_number);
  }
  static void on_close(uv_handle_t* handle) noexcept {
    auto* self = static_cast<Signal*>(handle->data);
    if (self->closed_owner_ != nullptr) self->closed_owner_->on_handle_closed();
  }
};

Signal::Signal(Loop& loop, Callback callback, void* owner) : callback_(callback), owner_(owner) {
  uv_signal_init(loop.get(), SignalAccess::handle(*this));
  SignalAccess::handle(*this)->data = this;
}

void Signal::start(int signal_number) {
  uv_signal_start(SignalAccess::handle(*this), &SignalAccess::on_signal, signal_number);
}

void Signal::close(HandleOwner* owner) {
  if (closing_) return;
  closing_ = true;
  closed_owner_ = owner;
  uv_close(reinterpret_cast<uv_handle_t*>(SignalAccess::handle(*this)), &SignalAccess::on_close);
}

struct BeforePollAccess {
  static uv_prepare_t* handle(BeforePoll& p) { return reinterpret_cast<uv_prepare_t*>(p.handle_); }
  static void on_prepare(uv_prepare_t* handle) noexcept {
    auto* self = static_cast<BeforePoll*>(handle->data);
    self->callback_(self->owner_);
  }
  static void on_close(uv_handle_t* handle) noexcept {
    auto* self = static_cast<BeforePoll*>(handle->data);
    if (self->closed_owner_ != nullptr) self->closed_owner_->on_handle_closed();
  }
};

BeforePoll::BeforePoll(Loop& loop, Callback callback, void* owner) : callback_(callback), owner_(owner) {
  uv_prepare_init(loop.get(), BeforePollAccess::handle(*this));
  BeforePollAccess::handle(*this)->data = this;
  uv_prepare_start(BeforePollAccess::handle(*this), &BeforePollAccess::on_prepare);
  // A prepare handle must not keep the loop alive on its own.
  uv_unref(reinterpret_cast<uv_handle_t*>(BeforePollAccess::handle(*this)));
}

void BeforePoll::close(HandleOwner* owner) {
  if (closing_) return;
  closing_ = true;
  closed_owner_ = owner;
  uv_close(reinterpret_cast<uv_handle_t*>(BeforePollAccess::handle(*this)), &BeforePollAccess::on_close);
}

}  // namespace haven::net
