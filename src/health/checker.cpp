#include "haven/health/checker.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "haven/health/probe.hpp"

namespace haven::health {

namespace {
// The first checks of all servers are spread over this much time (or the interval, if shorter).
constexpr core::Duration kStartSpread{200};

std::string check_request(const upstream::Server& server, const config::Check& check) {
  const std::string& host = check.host.empty() ? server.config.address.text : check.host;
  return fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: haven-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                     check.method, check.path, host);
}
}  // namespace

TierCounts count_up(const upstream::Backend& backend) {
  TierCounts counts;
  for (const auto& server : backend.servers) {
    if (!server->up()) continue;
    if (server->config.backup) {
      ++counts.backup_up;
    } else {
      ++counts.main_up;
    }
  }
  return counts;
}

Checker::ServerCheck::ServerCheck(net::Loop& loop, Checker& owner, upstream::Server& checked_server,
                                  const config::Check& server_check, std::size_t check_index)
    : checker(owner),
      server(checked_server),
      check(server_check),
      index(check_index),
      state(server_check.rise, server_check.fall),
      timer(loop, &Checker::on_check_due, this),
      request(check_request(checked_server, server_check)) {}

Checker::Checker(net::Loop& loop, const std::vector<std::unique_ptr<upstream::Backend>>& backends,
                 log::EventLog& events, TroubleListener on_trouble)
    : loop_(loop),
      events_(events),
      on_trouble_(std::move(on_trouble)),
      reports_signal_(loop, &Checker::on_reports, this),
      random_(std::random_device{}()) {
  for (const auto& backend : backends) {
    backends_.push_back(backend.get());
    backend_available_.push_back(true);
    if (!backend->config.check) continue;
    for (const auto& server : backend->servers) {
      checks_.push_back(std::make_unique<ServerCheck>(loop, *this, *server, *backend->config.check, checks_.size()));
    }
  }
}

Checker::~Checker() { stop(); }

void Checker::start() {
  // Every server is checked at once, but not all in the same millisecond.
  const std::size_t count = checks_.size();
  for (std::size_t i = 0; i < count; ++i) {
    auto& check = *checks_[i];
    const auto spread = std::min(kStartSpread, check.check.interval);
    schedule(check, core::Duration(spread.count() * static_cast<long>(i) / static_cast<long>(count)));
  }
}

void Checker::stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    // Workers still draining must not send to the async once it is closed.
    const std::lock_guard lock(reports_mutex_);
    reports_closed_ = true;
  }
  for (auto& check : checks_) {
    if (check->probe != nullptr) {
      check->probe->cancel();
      check->probe = nullptr;
    }
    check->timer.close(this);
  }
  reports_signal_.close(this);
}

void Checker::schedule(ServerCheck& check, core::Duration delay) {
  if (stopped_) return;
  check.timer.start(delay);
}

void Checker::on_check_due(void* server_check) noexcept {
  auto& check = *static_cast<ServerCheck*>(server_check);
  check.checker.run_check(check);
}

void Checker::run_check(ServerCheck& check) {
  if (stopped_ || check.probe != nullptr) return;
  check.probe = new Probe(loop_, *this, check.index, check.request, check.check);
  check.probe->start(check.server.address, check.check.timeout);
}

void Checker::on_probe_result(std::size_t check_index, bool ok, const std::string& reason, std::int64_t elapsed_ms,
                              bool no_verdict) {
  auto& check = *checks_[check_index];
  check.probe = nullptr;
  if (stopped_) return;
  if (!no_verdict) {
    check.server.failing_check.store(!ok, std::memory_order_relaxed);
    // A passing check proves the server usable again, whatever traffic concluded meanwhile.
    if (ok) check.server.unreachable.store(false, std::memory_order_relaxed);
    if (check.state.observe(ok)) {
      apply_change(check.server, check.state.up(), fmt::format("check: {}, {}ms", reason, elapsed_ms));
    } else if (!ok && check.state.up() && on_trouble_) {
      // Not DOWN yet, but requests that have waited on it as long as this check did are better
      // off elsewhere now than after `fall` more checks.
      on_trouble_();
    }
  }
  // Jitter of +-10% keeps the checks of many servers from falling into step.
  const auto interval = next_check_interval(check.check, check.state);
  const long spread = std::max(1L, static_cast<long>(interval.count() / 10));
  std::uniform_int_distribution<long> jitter(-spread, spread);
  schedule(check, core::Duration(std::max(1L, static_cast<long>(interval.count()) + jitter(random_))));
}

void Checker::report_traffic_failure(upstream::Server& server, std::string reason) {
  const std::lock_guard lock(reports_mutex_);
  if (reports_closed_) return;
  reports_.emplace_back(&server, std::move(reason));
  reports_signal_.send();
}

void Checker::on_reports(void* self) noexcept {
  auto& checker = *static_cast<Checker*>(self);
  if (checker.stopped_) return;
  std::vector<std::pair<upstream::Server*, std::string>> reports;
  {
    const std::lock_guard lock(checker.reports_mutex_);
    reports.swap(checker.reports_);
  }
  for (auto& [server, reason] : reports) {
    for (auto& check : checker.checks_) {
      if (&check->server != server) continue;
      // Only servers under active checks are taken down by traffic: nothing else would bring
      // them back.
      if (check->state.force_down()) checker.apply_change(*server, false, fmt::format("traffic: {}", reason));
    }
  }
}

void Checker::apply_change(upstream::Server& server, bool up, const std::string& why) {
  server.state.store(up ? upstream::ServerState::Up : upstream::ServerState::Down, std::memory_order_relaxed);
  server.passive_failures.store(0, std::memory_order_relaxed);
  server.unreachable.store(false, std::memory_order_relaxed);
  const upstream::Backend& backend = *backends_[server.backend_index];
  const TierCounts counts = count_up(backend);
  std::string tier_note;
  if (counts.main_up == 0 && counts.backup_up > 0) tier_note = fmt::format("; {} running on backup", backend.config.name);
  const std::string message = fmt::format("server {} is {} ({}); {} main and {} backup up{}", server.id,
                                          up ? "UP" : "DOWN", why, counts.main_up, counts.backup_up, tier_note);
  events_.write(up ? "server_up" : "server_down", message,
                {{"server", server.id},
                 {"backend", backend.config.name},
                 {"state", up ? "UP" : "DOWN"},
                 {"reason", why},
                 {"main_up", static_cast<long>(counts.main_up)},
                 {"backup_up", static_cast<long>(counts.backup_up)}});

  const bool available = backend.usable();
  if (available != backend_available_[backend.index]) {
    backend_available_[backend.index] = available;
    if (available) {
      events_.write("backend_available", fmt::format("backend {} is available again", backend.config.name),
                    {{"backend", backend.config.name}});
    } else {
      events_.write("backend_unavailable",
                    fmt::format("backend {} has no server available: serving maintenance", backend.config.name),
                    {{"backend", backend.config.name}});
    }
  }
  if (!up && on_trouble_) on_trouble_();
}

}  // namespace haven::health
