#include "haven/state/traffic_shift.hpp"

#include <fmt/format.h>

namespace haven::state {

std::string_view shift_phase_name(ShiftPhase phase) {
  switch (phase) {
    case ShiftPhase::Running:
      return "running";
    case ShiftPhase::Paused:
      return "paused";
    case ShiftPhase::Completed:
      return "completed";
    case ShiftPhase::RolledBack:
      return "rolled_back";
    case ShiftPhase::Aborted:
      return "aborted";
  }
  return "running";
}

std::string_view window_verdict_name(WindowVerdict verdict) {
  switch (verdict) {
    case WindowVerdict::Pass:
      return "pass";
    case WindowVerdict::Hold:
      return "hold";
    case WindowVerdict::Fail:
      return "fail";
  }
  return "hold";
}

std::string percent_text(double rate) {
  std::string text = fmt::format("{:.2f}", rate * 100.0);
  // "5.20" -> "5.2", "1.00" -> "1": as people write rates.
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text + "%";
}

std::string ShiftPlan::problem() const {
  if (from.empty() || to.empty()) return "a shift needs the group it moves from and the group it moves to";
  if (from == to) return fmt::format("a shift from \"{}\" to itself moves nothing", from);
  if (steps.empty()) return "steps must list at least one share, ending at 100";
  int previous = 0;
  for (const int step : steps) {
    if (step <= previous || step > 100) return "steps must rise from 1 to 100 (such as 10,25,50,100)";
    previous = step;
  }
  if (steps.back() != 100) return "the last step must be 100 (all traffic on the new group)";
  if (hold_ms < 1000 || hold_ms > 24ULL * 3600 * 1000) return "hold must be from 1s to 24h";
  if (min_requests < 1) return "min_requests must be at least 1";
  if (!(max_error_rate >= 0.0 && max_error_rate <= 1.0)) return "max_error_rate must be from 0 to 1 (0.01 = 1%)";
  if (max_error_rate_delta && !(*max_error_rate_delta >= 0.0 && *max_error_rate_delta <= 1.0)) {
    return "max_error_rate_delta must be from 0 to 1";
  }
  if (failure_limit < 1 || failure_limit > 100) return "failure_limit must be from 1 to 100";
  return {};
}

TrafficShift::TrafficShift(ShiftPlan plan, std::uint64_t now_ms, std::int64_t wall_ms)
    : plan_(std::move(plan)), window_started_ms_(now_ms), started_wall_ms_(wall_ms), changed_wall_ms_(wall_ms) {}

int TrafficShift::share() const {
  switch (phase_) {
    case ShiftPhase::Running:
    case ShiftPhase::Paused:
      return plan_.steps[step_];
    case ShiftPhase::Completed:
      return 100;
    case ShiftPhase::RolledBack:
    case ShiftPhase::Aborted:
      return 0;
  }
  return 0;
}

WindowReport TrafficShift::judge(const WindowSample& to, const WindowSample& from, std::uint64_t now_ms,
                                 std::int64_t wall_ms) {
  WindowReport report;
  report.at_ms = wall_ms;
  report.share = share();
  report.to = to;
  report.from = from;
  if (to.requests < plan_.min_requests) {
    // Too little traffic to say anything: neither a pass (no data is not good data) nor a failure.
    report.verdict = WindowVerdict::Hold;
    report.why = fmt::format("only {} request{} to {} in the window (need {}): holding at {}%", to.requests,
                             to.requests == 1 ? "" : "s", plan_.to, plan_.min_requests, report.share);
  } else if (to.error_rate() > plan_.max_error_rate) {
    report.verdict = WindowVerdict::Fail;
    report.why = fmt::format("error rate of {} {} > {} ({} of {} requests)", plan_.to, percent_text(to.error_rate()),
                             percent_text(plan_.max_error_rate), to.errors, to.requests);
  } else if (plan_.max_p99_ms && to.p99_ms > *plan_.max_p99_ms) {
    report.verdict = WindowVerdict::Fail;
    report.why = fmt::format("p99 of {} {}ms > {}ms", plan_.to, to.p99_ms, *plan_.max_p99_ms);
  } else if (plan_.max_error_rate_delta && from.requests >= plan_.min_requests &&
             to.error_rate() - from.error_rate() > *plan_.max_error_rate_delta) {
    report.verdict = WindowVerdict::Fail;
    report.why = fmt::format("error rate of {} {} is {} above {}'s {} (max_error_rate_delta {})", plan_.to,
                             percent_text(to.error_rate()), percent_text(to.error_rate() - from.error_rate()),
                             plan_.from, percent_text(from.error_rate()), percent_text(*plan_.max_error_rate_delta));
  } else {
    report.verdict = WindowVerdict::Pass;
    report.why = fmt::format("{} requests to {}, error rate {}, p99 {}ms", to.requests, plan_.to,
                             percent_text(to.error_rate()), to.p99_ms);
  }
  if (report.verdict == WindowVerdict::Pass) {
    failures_ = 0;
    if (step_ + 1 >= plan_.steps.size()) {
      phase_ = ShiftPhase::Completed;
    } else {
      ++step_;
    }
    changed_wall_ms_ = wall_ms;
  } else if (report.verdict == WindowVerdict::Fail && ++failures_ >= plan_.failure_limit) {
    phase_ = ShiftPhase::RolledBack;
    changed_wall_ms_ = wall_ms;
  }
  window_started_ms_ = now_ms;
  windows_.push_back(report);
  if (windows_.size() > kKeptWindows) windows_.pop_front();
  return report;
}

bool TrafficShift::pause(std::int64_t wall_ms) {
  if (phase_ != ShiftPhase::Running) return false;
  phase_ = ShiftPhase::Paused;
  changed_wall_ms_ = wall_ms;
  return true;
}

bool TrafficShift::resume(std::uint64_t now_ms, std::int64_t wall_ms) {
  if (phase_ != ShiftPhase::Paused) return false;
  phase_ = ShiftPhase::Running;
  window_started_ms_ = now_ms;
  changed_wall_ms_ = wall_ms;
  return true;
}

bool TrafficShift::abort(std::int64_t wall_ms) {
  // A completed shift may be aborted too: everything goes back to the old group.
  if (phase_ == ShiftPhase::Aborted || phase_ == ShiftPhase::RolledBack) return false;
  phase_ = ShiftPhase::Aborted;
  changed_wall_ms_ = wall_ms;
  return true;
}

}  // namespace haven::state
