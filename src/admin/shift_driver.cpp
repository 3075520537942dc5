#include "haven/admin/shift_driver.hpp"

#include <fmt/format.h>

#include "haven/state/server_runtime.hpp"

namespace haven::admin {

namespace {

std::string plan_text(const state::ShiftPlan& plan) {
  std::string steps;
  for (const int step : plan.steps) steps += (steps.empty() ? "" : ",") + std::to_string(step);
  return fmt::format("steps {}% held {}s each, at least {} requests, error rate at most {}{}{}", steps,
                     plan.hold_ms / 1000, plan.min_requests, state::percent_text(plan.max_error_rate),
                     plan.max_p99_ms ? fmt::format(", p99 at most {}ms", *plan.max_p99_ms) : std::string(),
                     plan.max_error_rate_delta
                         ? fmt::format(", at most {} above {}", state::percent_text(*plan.max_error_rate_delta), plan.from)
                         : std::string());
}

}  // namespace

state::WindowSample window_sample(const state::TrafficTotals& start, const state::TrafficTotals& end) {
  const auto delta = [](std::uint64_t a, std::uint64_t b) { return b > a ? b - a : 0; };
  state::WindowSample sample;
  sample.requests = delta(start.requests, end.requests);
  sample.errors = delta(start.responses[4], end.responses[4]) + delta(start.passive_failures, end.passive_failures);
  sample.errors = std::min(sample.errors, sample.requests);
  std::array<std::uint64_t, state::kResponseTimeBuckets> buckets{};
  std::uint64_t timed = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    buckets[i] = delta(start.response_time[i], end.response_time[i]);
    timed += buckets[i];
  }
  if (timed == 0) return sample;
  const std::uint64_t rank = (timed * 99 + 99) / 100;  // the 99th percentile's rank, rounded up
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    seen += buckets[i];
    if (seen >= rank) {
      // The last bucket has no upper bound: twice the last bound stands for "over it".
      sample.p99_ms = i < state::kResponseTimeBoundsMs.size() ? state::kResponseTimeBoundsMs[i]
                                                              : 2 * state::kResponseTimeBoundsMs.back();
      break;
    }
  }
  return sample;
}

state::TrafficTotals ShiftDriver::group_totals(const upstream::Backend& backend, std::string_view group) {
  state::TrafficTotals total;
  for (const auto& server : backend.servers) {
    if (server->config.group != group) continue;
    const state::TrafficTotals one = state::sum(*server->runtime.traffic);
    total.requests += one.requests;
    for (std::size_t i = 0; i < total.responses.size(); ++i) total.responses[i] += one.responses[i];
    total.passive_failures += one.passive_failures;
    for (std::size_t i = 0; i < total.response_time.size(); ++i) total.response_time[i] += one.response_time[i];
  }
  return total;
}

// Each group's share spread over its servers by their own weights (the operator's or configured):
// weights scaled so that a share of 1% still gives every server of a group a non-zero weight.
// The two groups together keep the part of the backend's traffic they had (servers in neither
// group keep theirs), and share it as the step says, each group by its servers' own weights
// (the operator's or configured). A group with no server that may take requests (all DOWN,
// drained or in maintenance) gives its share to the other one, so a shift never leaves the
// backend without a server while the other group is fine.
//
// Weights are scaled by 100 so that each group's total is exact (share x the groups' base
// weight): what is left after rounding each server down goes to its first servers, one each.
// The largest weight, 100 x 64 x 256, times the balancer's own scale (16) still fits an int.
bool ShiftDriver::apply_weights(const upstream::Backend& backend, const state::TrafficShift* shift) {
  constexpr std::int64_t kScale = 100;
  std::vector<std::int64_t> weights(backend.servers.size(), -1);
  if (shift != nullptr) {
    std::int64_t to_base = 0, from_base = 0;
    bool to_usable = false, from_usable = false;
    for (const auto& server : backend.servers) {
      const bool usable = server->runtime.serving();
      if (server->config.group == shift->plan().to) {
        to_base += server->base_weight();
        to_usable = to_usable || usable;
      } else if (server->config.group == shift->plan().from) {
        from_base += server->base_weight();
        from_usable = from_usable || usable;
      }
    }
    std::int64_t share = shift->share();
    if (!to_usable && from_usable) share = 0;
    if (!from_usable && to_usable) share = 100;
    const std::int64_t groups_base = to_base + from_base;
    // Spreads `total` over the servers of `group` by their base weights.
    const auto spread = [&](const std::string& group, std::int64_t group_base, std::int64_t total) {
      std::int64_t given = 0;
      for (std::size_t i = 0; i < backend.servers.size(); ++i) {
        const auto& server = *backend.servers[i];
        if (server.config.group != group) continue;
        weights[i] = group_base > 0 ? total * server.base_weight() / group_base : 0;
        given += weights[i];
      }
      for (std::size_t i = 0; i < backend.servers.size() && given < total; ++i) {
        if (backend.servers[i]->config.group == group && backend.servers[i]->base_weight() > 0) {
          ++weights[i];
          ++given;
        }
      }
    };
    for (std::size_t i = 0; i < backend.servers.size(); ++i) {
      weights[i] = backend.servers[i]->base_weight() * kScale;  // a server in neither group
    }
    spread(shift->plan().to, to_base, share * groups_base);
    spread(shift->plan().from, from_base, (100 - share) * groups_base);
  }
  bool changed = false;
  for (std::size_t i = 0; i < backend.servers.size(); ++i) {
    auto& runtime = backend.servers[i]->runtime;
    const int weight = static_cast<int>(weights[i]);
    if (runtime.shift_weight() != weight) {
      runtime.set_shift_weight(weight);
      changed = true;
    }
  }
  return changed;
}

std::string ShiftDriver::start(const upstream::Backend& backend, state::ShiftPlan plan, std::uint64_t now_ms,
                               std::string_view who) {
  const std::string& name = backend.config.name;
  if (const auto found = shifts_.find(name); found != shifts_.end() && !found->second.shift.finished()) {
    return fmt::format("backend {} already has a shift {} ({} -> {}): pause, resume or abort it first", name,
                       state::shift_phase_name(found->second.shift.phase()), found->second.shift.plan().from,
                       found->second.shift.plan().to);
  }
  if (std::string problem = plan.problem(); !problem.empty()) return problem;
  int from_servers = 0, to_servers = 0;
  for (const auto& server : backend.servers) {
    from_servers += server->config.group == plan.from ? 1 : 0;
    to_servers += server->config.group == plan.to ? 1 : 0;
  }
  if (from_servers == 0 || to_servers == 0) {
    return fmt::format("backend {} has no server in group \"{}\" (servers take a group with group = \"...\")", name,
                       from_servers == 0 ? plan.from : plan.to);
  }
  const std::int64_t wall = state::wall_clock_ms();
  shifts_.erase(name);
  Entry entry{state::TrafficShift(std::move(plan), now_ms, wall), {}, {}};
  entry.to_start = group_totals(backend, entry.shift.plan().to);
  entry.from_start = group_totals(backend, entry.shift.plan().from);
  const auto& started = shifts_.emplace(name, std::move(entry)).first->second.shift;
  apply_weights(backend, &started);
  events_.write("shift_started",
                fmt::format("shift of backend {} from {} to {} started by {}: {}% on {} ({})", name, started.plan().from,
                            started.plan().to, who, started.share(), started.plan().to, plan_text(started.plan())),
                {{"backend", name},
                 {"from", started.plan().from},
                 {"to", started.plan().to},
                 {"share", static_cast<long>(started.share())},
                 {"source", std::string(who)}});
  return {};
}

std::string ShiftDriver::command(const upstream::Backend& backend, std::string_view action, std::uint64_t now_ms,
                                 std::string_view who) {
  const std::string& name = backend.config.name;
  const auto found = shifts_.find(name);
  if (found == shifts_.end()) return fmt::format("backend {} has no shift", name);
  Entry& entry = found->second;
  state::TrafficShift& shift = entry.shift;
  const std::int64_t wall = state::wall_clock_ms();
  bool done = false;
  if (action == "pause") {
    done = shift.pause(wall);
  } else if (action == "resume") {
    done = shift.resume(now_ms, wall);
    if (done) {
      // The window starts afresh: counters from now on.
      entry.to_start = group_totals(backend, shift.plan().to);
      entry.from_start = group_totals(backend, shift.plan().from);
    }
  } else if (action == "abort") {
    done = shift.abort(wall);
  } else if (action == "clear") {
    // A finished shift stops setting weights: the configured (or operator's) ones apply again.
    if (!shift.finished()) {
      return fmt::format("the shift of backend {} is {}: abort it before clearing it", name,
                         state::shift_phase_name(shift.phase()));
    }
    events_.write("shift_cleared",
                  fmt::format("shift of backend {} from {} to {} cleared by {}: configured weights apply again", name,
                              shift.plan().from, shift.plan().to, who),
                  {{"backend", name}, {"source", std::string(who)}});
    shifts_.erase(found);
    apply_weights(backend, nullptr);
    return {};
  } else {
    return fmt::format("unknown shift command \"{}\" (pause, resume, abort or clear)", action);
  }
  if (!done) return fmt::format("the shift of backend {} is {}: it cannot {}", name, state::shift_phase_name(shift.phase()), action);
  apply_weights(backend, &shift);
  events_.write(fmt::format("shift_{}", action == "abort" ? "aborted" : action == "pause" ? "paused" : "resumed"),
                fmt::format("shift of backend {} from {} to {} {} by {}; {}% on {}", name, shift.plan().from,
                            shift.plan().to,
                            action == "abort" ? "aborted (all traffic back on " + shift.plan().from + ")"
                            : action == "pause" ? std::string("paused")
                                                : std::string("resumed (a new window starts)"),
                            who, shift.share(), shift.plan().to),
                {{"backend", name}, {"share", static_cast<long>(shift.share())}, {"source", std::string(who)}});
  return {};
}

void ShiftDriver::judge(const upstream::Backend& backend, Entry& entry, std::uint64_t now_ms) {
  state::TrafficShift& shift = entry.shift;
  const state::TrafficTotals to_now = group_totals(backend, shift.plan().to);
  const state::TrafficTotals from_now = group_totals(backend, shift.plan().from);
  const int share_before = shift.share();
  const state::WindowReport report = shift.judge(window_sample(entry.to_start, to_now),
                                                 window_sample(entry.from_start, from_now), now_ms,
                                                 state::wall_clock_ms());
  entry.to_start = to_now;
  entry.from_start = from_now;
  const std::string& name = backend.config.name;
  const auto& plan = shift.plan();
  std::string message;
  std::string kind;
  switch (report.verdict) {
    case state::WindowVerdict::Pass:
      ++entry.passes;
      kind = shift.phase() == state::ShiftPhase::Completed ? "shift_completed" : "shift_step";
      message = shift.phase() == state::ShiftPhase::Completed
                    ? fmt::format("shift of backend {} from {} to {} completed: all traffic on {} ({})", name, plan.from,
                                  plan.to, plan.to, report.why)
                    : fmt::format("shift of backend {} from {} to {}: the {}% window passed ({}); now {}% on {}", name,
                                  plan.from, plan.to, share_before, report.why, shift.share(), plan.to);
      break;
    case state::WindowVerdict::Hold:
      ++entry.holds;
      kind = "shift_hold";
      message = fmt::format("shift of backend {} from {} to {} holds: {}", name, plan.from, plan.to, report.why);
      break;
    case state::WindowVerdict::Fail:
      ++entry.fails;
      if (shift.phase() == state::ShiftPhase::RolledBack) {
        kind = "shift_rolled_back";
        message = fmt::format("shift of backend {} from {} to {} rolled back at {}%: {}; all traffic back on {}", name,
                              plan.from, plan.to, share_before, report.why, plan.from);
      } else {
        kind = "shift_window_failed";
        message = fmt::format("shift of backend {} from {} to {}: the {}% window failed ({}), {} of {} failures allowed",
                              name, plan.from, plan.to, share_before, report.why, shift.failures(), plan.failure_limit);
      }
      break;
  }
  events_.write(kind, message,
                {{"backend", name},
                 {"verdict", std::string(state::window_verdict_name(report.verdict))},
                 {"share", static_cast<long>(shift.share())},
                 {"requests", static_cast<long>(report.to.requests)},
                 {"errors", static_cast<long>(report.to.errors)},
                 {"p99_ms", static_cast<long>(report.to.p99_ms)},
                 {"reason", report.why}});
}

bool ShiftDriver::tick(const std::vector<std::unique_ptr<upstream::Backend>>& backends, std::uint64_t now_ms) {
  bool changed = false;
  for (const auto& backend : backends) {
    const auto found = shifts_.find(backend->config.name);
    Entry* entry = found != shifts_.end() ? &found->second : nullptr;
    // A backend with no shift any more (cleared, or removed by a reload) gets no shift weights.
    if (entry != nullptr && entry->shift.window_due(now_ms)) judge(*backend, *entry, now_ms);
    // A rolled-back or aborted shift leaves the old group with everything; a completed one the new.
    changed = apply_weights(*backend, entry != nullptr ? &entry->shift : nullptr) || changed;
  }
  return changed;
}

std::optional<ShiftView> ShiftDriver::view(std::string_view backend, std::uint64_t now_ms) const {
  const auto found = shifts_.find(backend);
  if (found == shifts_.end()) return std::nullopt;
  const Entry& entry = found->second;
  const state::TrafficShift& shift = entry.shift;
  ShiftView out;
  out.plan = shift.plan();
  out.phase = shift.phase();
  out.share = shift.share();
  out.step = shift.step();
  out.failures = shift.failures();
  out.started_ms = shift.started_wall_ms();
  out.changed_ms = shift.changed_wall_ms();
  if (shift.phase() == state::ShiftPhase::Running) {
    out.window_ends_in_ms = static_cast<std::int64_t>(shift.window_due_ms() > now_ms ? shift.window_due_ms() - now_ms : 0);
  }
  out.passes = entry.passes;
  out.holds = entry.holds;
  out.fails = entry.fails;
  out.windows.assign(shift.windows().begin(), shift.windows().end());
  return out;
}

}  // namespace haven::admin
