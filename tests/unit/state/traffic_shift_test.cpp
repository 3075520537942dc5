#include "haven/state/traffic_shift.hpp"

#include <doctest/doctest.h>

using namespace haven::state;

namespace {

ShiftPlan plan() {
  ShiftPlan p;
  p.from = "prod1";
  p.to = "prod2";
  p.steps = {10, 25, 50, 100};
  p.hold_ms = 60000;
  p.min_requests = 100;
  p.max_error_rate = 0.01;
  return p;
}

WindowSample sample(std::uint64_t requests, std::uint64_t errors, std::uint64_t p99 = 20) {
  return {requests, errors, p99};
}

}  // namespace

TEST_CASE("plans are checked before they start") {
  CHECK(plan().problem().empty());
  ShiftPlan p = plan();
  p.steps = {10, 50};
  CHECK(p.problem() == "the last step must be 100 (all traffic on the new group)");
  p.steps = {50, 25, 100};
  CHECK(p.problem().find("rise") != std::string::npos);
  p.steps = {0, 100};
  CHECK(p.problem().find("rise") != std::string::npos);
  p = plan();
  p.to = "prod1";
  CHECK(p.problem().find("itself") != std::string::npos);
  p = plan();
  p.max_error_rate = 2;
  CHECK_FALSE(p.problem().empty());
  p = plan();
  p.hold_ms = 10;
  CHECK_FALSE(p.problem().empty());
}

TEST_CASE("healthy windows advance step by step and complete") {
  TrafficShift shift(plan(), 1000, 5000);
  CHECK(shift.share() == 10);
  CHECK_FALSE(shift.window_due(60999));
  CHECK(shift.window_due(61000));
  int expected[] = {25, 50, 100};
  std::uint64_t now = 61000;
  for (const int share : expected) {
    const auto report = shift.judge(sample(500, 1), sample(4000, 2), now, 0);
    CHECK(report.verdict == WindowVerdict::Pass);
    CHECK(shift.share() == share);
    now += 60000;
  }
  CHECK(shift.phase() == ShiftPhase::Running);
  CHECK(shift.judge(sample(5000, 0), sample(0, 0), now, 0).verdict == WindowVerdict::Pass);
  CHECK(shift.phase() == ShiftPhase::Completed);
  CHECK(shift.share() == 100);
  CHECK(shift.finished());
  CHECK_FALSE(shift.window_due(now + 100000));
  CHECK(shift.windows().size() == 4);
  // The operator's way back after completion.
  CHECK(shift.abort(1));
  CHECK(shift.share() == 0);
}

TEST_CASE("too few requests hold the step, whatever the error rate") {
  TrafficShift shift(plan(), 0, 0);
  auto report = shift.judge(sample(12, 12), sample(200, 0), 60000, 0);
  CHECK(report.verdict == WindowVerdict::Hold);
  CHECK(report.why == "only 12 requests to prod2 in the window (need 100): holding at 10%");
  CHECK(shift.share() == 10);
  CHECK(shift.failures() == 0);
  CHECK(shift.phase() == ShiftPhase::Running);
  report = shift.judge(sample(0, 0), sample(0, 0), 120000, 0);
  CHECK(report.verdict == WindowVerdict::Hold);
  CHECK(shift.window_started_ms() == 120000);  // a new window for the same step
}

TEST_CASE("a failed window rolls back, naming the value next to its threshold") {
  TrafficShift shift(plan(), 0, 0);
  const auto report = shift.judge(sample(1000, 52), sample(9000, 9), 60000, 0);
  CHECK(report.verdict == WindowVerdict::Fail);
  CHECK(report.why == "error rate of prod2 5.2% > 1% (52 of 1000 requests)");
  CHECK(shift.phase() == ShiftPhase::RolledBack);
  CHECK(shift.share() == 0);
}

TEST_CASE("p99 and the comparison with the old group fail windows too; failure_limit allows retries") {
  ShiftPlan p = plan();
  p.max_p99_ms = 500;
  p.max_error_rate = 0.05;
  p.max_error_rate_delta = 0.01;
  p.failure_limit = 2;
  TrafficShift shift(p, 0, 0);
  auto report = shift.judge(sample(1000, 0, 1000), sample(1000, 0), 60000, 0);
  CHECK(report.verdict == WindowVerdict::Fail);
  CHECK(report.why == "p99 of prod2 1000ms > 500ms");
  CHECK(shift.phase() == ShiftPhase::Running);  // one failure of two allowed
  CHECK(shift.share() == 10);
  report = shift.judge(sample(1000, 30), sample(1000, 10), 120000, 0);
  CHECK(report.verdict == WindowVerdict::Fail);
  CHECK(report.why == "error rate of prod2 3% is 2% above prod1's 1% (max_error_rate_delta 1%)");
  CHECK(shift.phase() == ShiftPhase::RolledBack);
}

TEST_CASE("the old group's rate is compared only when it has enough requests itself") {
  ShiftPlan p = plan();
  p.max_error_rate = 0.05;
  p.max_error_rate_delta = 0.001;
  TrafficShift shift(p, 0, 0);
  CHECK(shift.judge(sample(1000, 30), sample(10, 0), 60000, 0).verdict == WindowVerdict::Pass);
}

TEST_CASE("a pass resets the failures counted at a step") {
  ShiftPlan p = plan();
  p.failure_limit = 2;
  TrafficShift shift(p, 0, 0);
  CHECK(shift.judge(sample(1000, 100), sample(1000, 0), 60000, 0).verdict == WindowVerdict::Fail);
  CHECK(shift.judge(sample(1000, 0), sample(1000, 0), 120000, 0).verdict == WindowVerdict::Pass);
  CHECK(shift.failures() == 0);
  CHECK(shift.judge(sample(1000, 100), sample(1000, 0), 180000, 0).verdict == WindowVerdict::Fail);
  CHECK(shift.phase() == ShiftPhase::Running);
}

TEST_CASE("pause freezes the step, resume starts a fresh window, abort goes back to the old group") {
  TrafficShift shift(plan(), 0, 0);
  CHECK(shift.pause(10));
  CHECK_FALSE(shift.pause(11));
  CHECK(shift.phase() == ShiftPhase::Paused);
  CHECK(shift.share() == 10);
  CHECK_FALSE(shift.window_due(1000000));
  CHECK(shift.resume(500000, 20));
  CHECK_FALSE(shift.resume(500001, 21));
  CHECK(shift.window_due_ms() == 560000);
  CHECK(shift.abort(30));
  CHECK(shift.phase() == ShiftPhase::Aborted);
  CHECK(shift.share() == 0);
  CHECK_FALSE(shift.abort(31));
  CHECK_FALSE(shift.resume(600000, 40));
}

TEST_CASE("rates as people write them") {
  CHECK(percent_text(0.052) == "5.2%");
  CHECK(percent_text(0.01) == "1%");
  CHECK(percent_text(0) == "0%");
  CHECK(percent_text(0.12345) == "12.35%");
}
