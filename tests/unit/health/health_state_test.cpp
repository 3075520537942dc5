#include "haven/health/health_state.hpp"

#include <doctest/doctest.h>

using haven::core::Duration;
using haven::health::HealthState;
using haven::health::next_check_interval;

TEST_CASE("fall consecutive failures take a server down") {
  HealthState state(2, 3);
  CHECK(state.up());
  CHECK_FALSE(state.observe(false));
  CHECK_FALSE(state.observe(false));
  CHECK(state.observe(false));
  CHECK_FALSE(state.up());
}

TEST_CASE("a success in between resets the failure count") {
  HealthState state(2, 3);
  state.observe(false);
  state.observe(false);
  CHECK_FALSE(state.observe(true));
  CHECK_FALSE(state.observe(false));
  CHECK_FALSE(state.observe(false));
  CHECK(state.up());
  CHECK(state.observe(false));
}

TEST_CASE("rise consecutive successes bring it back") {
  HealthState state(2, 1);
  CHECK(state.observe(false));
  CHECK_FALSE(state.observe(true));
  CHECK_FALSE(state.observe(false));  // resets the success count
  CHECK_FALSE(state.observe(true));
  CHECK(state.observe(true));
  CHECK(state.up());
}

TEST_CASE("traffic can force a server down; it then needs rise successes") {
  HealthState state(3, 3);
  CHECK(state.force_down());
  CHECK_FALSE(state.up());
  CHECK_FALSE(state.force_down());
  CHECK_FALSE(state.observe(true));
  CHECK_FALSE(state.observe(true));
  CHECK(state.observe(true));
}

TEST_CASE("check intervals: fast while changing state, down_interval while down") {
  haven::config::Check check;
  check.interval = Duration(2000);
  check.fast_interval = Duration(500);
  check.down_interval = Duration(5000);
  check.rise = 2;
  check.fall = 3;
  HealthState state(check.rise, check.fall);
  CHECK(next_check_interval(check, state) == Duration(2000));
  state.observe(false);
  CHECK(next_check_interval(check, state) == Duration(500));
  state.observe(false);
  state.observe(false);
  CHECK_FALSE(state.up());
  CHECK(next_check_interval(check, state) == Duration(5000));
  state.observe(true);
  CHECK(next_check_interval(check, state) == Duration(500));
  state.observe(true);
  CHECK(state.up());
  CHECK(next_check_interval(check, state) == Duration(2000));
}

TEST_CASE("new thresholds from a reload apply to the counts so far") {
  HealthState state(2, 3);
  state.observe(false);
  state.set_thresholds(2, 2);
  CHECK(state.observe(false));
  CHECK_FALSE(state.up());
}
