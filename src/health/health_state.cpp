#include "haven/health/health_state.hpp"

namespace haven::health {

bool HealthState::observe(bool ok) {
  if (up_) {
    if (ok) {
      failures_ = 0;
      return false;
    }
    if (++failures_ < fall_) return false;
    up_ = false;
    failures_ = 0;
    successes_ = 0;
    return true;
  }
  if (!ok) {
    successes_ = 0;
    return false;
  }
  if (++successes_ < rise_) return false;
  up_ = true;
  successes_ = 0;
  failures_ = 0;
  return true;
}

void HealthState::settle(bool ok) {
  up_ = ok;
  successes_ = 0;
  failures_ = 0;
}

bool HealthState::force_down() {
  const bool was_up = up_;
  up_ = false;
  successes_ = 0;
  failures_ = 0;
  return was_up;
}

core::Duration next_check_interval(const config::Check& check, const HealthState& state) {
  if (state.transitioning()) return check.fast_interval;
  return state.up() ? check.interval : check.down_interval;
}

}  // namespace haven::health
