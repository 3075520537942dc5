#pragma once
// A traffic shift between two server groups of one backend (prod1 -> prod2) in steps, each held
// for a while and passed only when the new group's window shows enough requests with an error
// rate and a p99 within bounds (also compared with the old group). Too few requests hold the step
// (never pass, never fail); `failure_limit` failed windows roll back to the old group. Pure and
// clock-free: the caller gives the time and each window's numbers, so every path is tested alone.
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace haven::state {

struct ShiftPlan {
  std::string from;                     // the group that has the traffic now
  std::string to;                       // the group it moves to
  std::vector<int> steps{10, 25, 50, 100};  // the new group's share, in percent, step by step
  std::uint64_t hold_ms = 60000;        // how long each step is held (one window)
  std::uint64_t min_requests = 100;     // fewer in a window: hold, with no verdict
  double max_error_rate = 0.01;         // 5xx and connect/timeout failures per request
  std::optional<std::uint64_t> max_p99_ms;
  std::optional<double> max_error_rate_delta;  // new group's rate minus the old group's, at most
  int failure_limit = 1;                // failed windows before rolling back

  // "" when usable, else why not (steps rising from 1 to 100, ending at 100; bounds in range).
  [[nodiscard]] std::string problem() const;
};

// One group's traffic during a window.
struct WindowSample {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::uint64_t p99_ms = 0;  // 0 without requests
  [[nodiscard]] double error_rate() const {
    return requests == 0 ? 0.0 : static_cast<double>(errors) / static_cast<double>(requests);
  }
};

enum class ShiftPhase : std::uint8_t { Running, Paused, Completed, RolledBack, Aborted };
std::string_view shift_phase_name(ShiftPhase phase);  // "running", "paused", "completed", "rolled_back", "aborted"

enum class WindowVerdict : std::uint8_t { Pass, Hold, Fail };
std::string_view window_verdict_name(WindowVerdict verdict);  // "pass", "hold", "fail"

// A judged window, for stats and the event line.
struct WindowReport {
  std::int64_t at_ms = 0;  // wall clock of the verdict
  int share = 0;           // the new group's share during the window
  WindowVerdict verdict = WindowVerdict::Hold;
  WindowSample to;
  WindowSample from;
  std::string why;  // "error rate 5.2% > 1%", "only 12 requests to prod2 (need 100)"
};

class TrafficShift {
 public:
  // Starts at the first step: the window of that step begins at `now_ms` (monotonic).
  TrafficShift(ShiftPlan plan, std::uint64_t now_ms, std::int64_t wall_ms);

  [[nodiscard]] const ShiftPlan& plan() const { return plan_; }
  [[nodiscard]] ShiftPhase phase() const { return phase_; }
  // The new group's share now, in percent: the current step's while running or paused, 100 once
  // completed, 0 after a rollback or an abort.
  [[nodiscard]] int share() const;
  [[nodiscard]] std::size_t step() const { return step_; }  // index into plan().steps
  [[nodiscard]] int failures() const { return failures_; }  // failed windows at this step so far
  [[nodiscard]] std::uint64_t window_started_ms() const { return window_started_ms_; }
  // When the current window is judged (monotonic); nothing is due unless running.
  [[nodiscard]] std::uint64_t window_due_ms() const { return window_started_ms_ + plan_.hold_ms; }
  [[nodiscard]] bool window_due(std::uint64_t now_ms) const {
    return phase_ == ShiftPhase::Running && now_ms >= window_due_ms();
  }
  [[nodiscard]] std::int64_t started_wall_ms() const { return started_wall_ms_; }
  [[nodiscard]] std::int64_t changed_wall_ms() const { return changed_wall_ms_; }
  // The last judged windows, newest last (at most kKeptWindows).
  [[nodiscard]] const std::deque<WindowReport>& windows() const { return windows_; }
  static constexpr std::size_t kKeptWindows = 20;

  // Judges the window that ends now from the two groups' numbers during it, and moves on: the
  // next step (or completion) on a pass, the same step on a hold or a failure below the limit, a
  // rollback at the limit. Returns the report (also kept in windows()).
  WindowReport judge(const WindowSample& to, const WindowSample& from, std::uint64_t now_ms, std::int64_t wall_ms);

  // Operator commands. Each returns false when it does not apply in the current phase.
  bool pause(std::int64_t wall_ms);
  // A fresh window starts: the paused time says nothing about the new group.
  bool resume(std::uint64_t now_ms, std::int64_t wall_ms);
  // Back to the old group's full weight (also after completion: the operator's way back).
  bool abort(std::int64_t wall_ms);
  [[nodiscard]] bool finished() const {
    return phase_ == ShiftPhase::Completed || phase_ == ShiftPhase::RolledBack || phase_ == ShiftPhase::Aborted;
  }

 private:
  ShiftPlan plan_;
  ShiftPhase phase_ = ShiftPhase::Running;
  std::size_t step_ = 0;
  int failures_ = 0;
  std::uint64_t window_started_ms_;
  std::int64_t started_wall_ms_;
  std::int64_t changed_wall_ms_;
  std::deque<WindowReport> windows_;
};

// "5.2%" of a rate (0.052), for event lines and verdicts.
std::string percent_text(double rate);

}  // namespace haven::state
