#pragma once
// Runs the traffic shifts the operator started (POST /api/v1/backends/{b}/shift, `haven ctl
// shift`): gives each server of the two groups its share of the weight, judges each window from
// the groups' traffic counters, advances, holds or rolls back, and says so in the event log. One
// shift per backend at a time, kept by backend name, so a reload neither stops nor restarts it.
//
// Thread: the supervisor's (admin API, reloads and the shift timer all run there).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "haven/log/event_log.hpp"
#include "haven/state/traffic_counters.hpp"
#include "haven/state/traffic_shift.hpp"
#include "haven/upstream/server.hpp"

namespace haven::admin {

// What stats.json and /metrics show of a backend's shift.
struct ShiftView {
  state::ShiftPlan plan;
  state::ShiftPhase phase = state::ShiftPhase::Running;
  int share = 0;
  std::size_t step = 0;
  int failures = 0;
  std::int64_t started_ms = 0;   // wall clock
  std::int64_t changed_ms = 0;
  std::int64_t window_ends_in_ms = 0;  // while running
  std::uint64_t passes = 0, holds = 0, fails = 0;
  std::vector<state::WindowReport> windows;  // the last ones, newest last
};

class ShiftDriver {
 public:
  explicit ShiftDriver(log::EventLog& events) : events_(events) {}

  // Starts a shift of `backend` (refused while one runs or is paused there). Returns "" or why not.
  std::string start(const upstream::Backend& backend, state::ShiftPlan plan, std::uint64_t now_ms, std::string_view who);
  // "pause", "resume" or "abort". Returns "" or why not.
  std::string command(const upstream::Backend& backend, std::string_view action, std::uint64_t now_ms,
                      std::string_view who);
  // Judges the windows that are due and applies every shift's weights to the servers of the
  // configuration in force (also right after a reload, whose servers may be new entries).
  // Returns true when some server's weight changed.
  bool tick(const std::vector<std::unique_ptr<upstream::Backend>>& backends, std::uint64_t now_ms);

  [[nodiscard]] std::optional<ShiftView> view(std::string_view backend, std::uint64_t now_ms) const;

 private:
  struct Entry {
    state::TrafficShift shift;
    // The groups' counters when the current window began.
    state::TrafficTotals to_start;
    state::TrafficTotals from_start;
    std::uint64_t passes = 0, holds = 0, fails = 0;
  };
  static state::TrafficTotals group_totals(const upstream::Backend& backend, std::string_view group);
  static bool apply_weights(const upstream::Backend& backend, const state::TrafficShift* shift);
  void judge(const upstream::Backend& backend, Entry& entry, std::uint64_t now_ms);

  log::EventLog& events_;
  std::map<std::string, Entry, std::less<>> shifts_;  // by backend name; finished ones stay until the next
};

// One group's traffic between two readings of its counters: requests, errors (5xx answers and
// failed attempts) and p99 (the upper bound of the histogram bucket it falls in).
state::WindowSample window_sample(const state::TrafficTotals& start, const state::TrafficTotals& end);

}  // namespace haven::admin
