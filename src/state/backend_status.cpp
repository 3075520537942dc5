#include "haven/state/backend_status.hpp"

namespace haven::state {

std::string_view backend_mode_name(BackendMode mode) {
  switch (mode) {
    case BackendMode::Primary:
      return "primary";
    case BackendMode::Backup:
      return "backup";
    case BackendMode::Maintenance:
      return "maintenance";
    case BackendMode::Stale:
      return "stale";
  }
  return "primary";
}

void StatusSignal::listen(std::function<void()> listener) {
  const std::lock_guard lock(mutex_);
  listener_ = std::move(listener);
}

void StatusSignal::ring() {
  const std::lock_guard lock(mutex_);
  if (listener_) listener_();
}

BackendStatus::BackendStatus(std::int64_t started_ms, std::shared_ptr<StatusSignal> signal)
    : signal_(std::move(signal)) {
  record_.since_ms = started_ms;
}

bool BackendStatus::update(BackendMode mode, std::string_view reason, std::int64_t now_ms) {
  {
    const std::lock_guard lock(mutex_);
    if (mode == record_.mode) return false;
    record_.previous = record_.mode;
    record_.mode = mode;
    record_.since_ms = now_ms;
    record_.changed = true;
    record_.reason.assign(reason);
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (signal_ != nullptr) signal_->ring();
  return true;
}

StatusRecord BackendStatus::read() const {
  const std::lock_guard lock(mutex_);
  return record_;
}

}  // namespace haven::state
