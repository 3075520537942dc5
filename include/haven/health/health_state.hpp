#pragma once
// Rise/fall hysteresis of one server: `fall` consecutive failures take an UP server down, `rise`
// consecutive successes bring a DOWN one back. Pure and clock-free, so it is tested alone.
#include "haven/config/config.hpp"
#include "haven/core/duration.hpp"

namespace haven::health {

class HealthState {
 public:
  HealthState(int rise, int fall, bool up = true) : rise_(rise), fall_(fall), up_(up) {}

  // Records one check result; returns true when the server changed state (UP <-> DOWN).
  bool observe(bool ok);
  // A reload changed `rise` or `fall`; the counts so far stay.
  void set_thresholds(int rise, int fall) {
    rise_ = rise;
    fall_ = fall;
  }
  // The first verdict on a server nothing was known of (added by a reload): UP on a pass, DOWN on
  // a failure, with no history either way.
  void settle(bool ok);
  // Traffic showed the server dead: DOWN now, and `rise` successes needed to come back.
  // Returns true when it was UP.
  bool force_down();

  [[nodiscard]] bool up() const { return up_; }
  // UP but failing, or DOWN but succeeding: the state may change at the next checks.
  [[nodiscard]] bool transitioning() const { return up_ ? failures_ > 0 : successes_ > 0; }
  [[nodiscard]] int consecutive_failures() const { return failures_; }
  [[nodiscard]] int consecutive_successes() const { return successes_; }

 private:
  int rise_;
  int fall_;
  bool up_;
  int successes_ = 0;  // counted while DOWN
  int failures_ = 0;   // counted while UP
};

// When the next check of a server in `state` is due: fast_interval while changing state,
// down_interval while DOWN, interval otherwise.
core::Duration next_check_interval(const config::Check& check, const HealthState& state);

}  // namespace haven::health
