#include "haven/health/checker.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "haven/health/probe.hpp"
#include "haven/upstream/backend_mode.hpp"

namespace haven::health {

namespace {
// The first checks of all servers are spread over this much time (or the interval, if shorter).
constexpr core::Duration kStartSpread{200};
constexpr core::Duration kCopiesInterval{1000};

std::string check_request(const state::ServerRuntime& server, const config::Check& check) {
  const std::string& host = check.host.empty() ? server.address.text : check.host;
  return fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: haven-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                     check.method, check.path, host);
}
}  // namespace

TierCounts count_up(const upstream::Backend& backend) {
  TierCounts counts;
  for (const auto& server : backend.servers) {
    if (!server->serving()) continue;
    if (server->config.backup) {
      ++counts.backup_up;
    } else {
      ++counts.main_up;
    }
  }
  return counts;
}

Checker::ServerCheck::ServerCheck(net::Loop& loop, Checker& owner, std::shared_ptr<state::ServerRuntime> checked,
                                  std::uint64_t check_id)
    : checker(owner),
      server(std::move(checked)),
      probe_check(*server->check),
      timing(&probe_check),
      id(check_id),
      state(probe_check.rise, probe_check.fall, server->health() == state::Health::Up),
      timer(loop, &Checker::on_check_due, this),
      request(check_request(*server, probe_check)) {
  address.assign(server->address.host, server->address.port);
}

void Checker::ServerCheck::on_handle_closed() {
  auto& retired = checker.retired_;
  const auto found = std::find_if(retired.begin(), retired.end(), [this](const auto& c) { return c.get() == this; });
  if (found != retired.end()) retired.erase(found);  // destroys *this: nothing after this line
}

Checker::Checker(net::Loop& loop, log::EventLog& events, TroubleListener on_trouble)
    : loop_(loop),
      events_(events),
      on_trouble_(std::move(on_trouble)),
      reports_signal_(loop, &Checker::on_reports, this),
      copies_timer_(loop, &Checker::on_copies_due, this),
      random_(std::random_device{}()) {
  copies_timer_.start(kCopiesInterval, kCopiesInterval);
}

// Every backend's mode once a second, whatever triggered it or not: last-good copies age without
// any event (a backend shown from copies turns to maintenance once they are older than max_age,
// failing URLs stop counting), and a change seen by an older snapshot is set right.
void Checker::on_copies_due(void* self) noexcept {
  auto& checker = *static_cast<Checker*>(self);
  if (checker.stopped_ || checker.backends_ == nullptr) return;
  for (const auto& backend : *checker.backends_) upstream::refresh_status(*backend);
}

Checker::~Checker() { stop(); }

void Checker::bind(const std::vector<std::unique_ptr<upstream::Backend>>& backends) {
  if (stopped_) return;
  std::vector<std::unique_ptr<ServerCheck>> kept;
  std::vector<ServerCheck*> started;
  backend_available_.assign(backends.size(), true);
  for (std::size_t b = 0; b < backends.size(); ++b) {
    const auto& backend = *backends[b];
    backend_available_[b] = backend.usable();
    // A reload may have added, removed or re-weighted servers (or the whole backend).
    upstream::refresh_status(backend);
    for (const auto& server : backend.servers) {
      if (!server->runtime.check) continue;
      const auto same = std::find_if(checks_.begin(), checks_.end(), [&](const auto& c) {
        return c != nullptr && c->server == server->runtime_entry;
      });
      if (same != checks_.end()) {
        kept.push_back(std::move(*same));
      } else {
        kept.push_back(std::make_unique<ServerCheck>(loop_, *this, server->runtime_entry, next_check_id_++));
        started.push_back(kept.back().get());
      }
      ServerCheck& check = *kept.back();
      check.backend_index = b;
      check.timing = &*backend.config.check;
      check.state.set_thresholds(check.timing->rise, check.timing->fall);
    }
  }
  for (auto& gone : checks_) {
    if (gone == nullptr) continue;  // moved to `kept`
    retire(*gone);
    retired_.push_back(std::move(gone));
  }
  checks_ = std::move(kept);
  backends_ = &backends;
  // New servers are checked at once, but not all in the same millisecond.
  const std::size_t count = started.size();
  for (std::size_t i = 0; i < count; ++i) {
    auto& check = *started[i];
    const auto spread = std::min(kStartSpread, check.timing->interval);
    schedule(check, core::Duration(spread.count() * static_cast<long>(i) / static_cast<long>(count)));
  }
}

void Checker::retire(ServerCheck& check) {
  if (check.probe != nullptr) {
    check.probe->cancel();
    check.probe = nullptr;
  }
  check.timer.close(&check);
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
    retire(*check);
    retired_.push_back(std::move(check));
  }
  checks_.clear();
  reports_signal_.close(this);
  copies_timer_.close(this);
}

void Checker::on_handle_closed() {}

Checker::ServerCheck* Checker::find(std::uint64_t id) {
  for (auto& check : checks_) {
    if (check->id == id) return check.get();
  }
  return nullptr;
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
  // A server in maintenance is not checked; its check resumes when it leaves MAINT.
  if (check.server->admin_state() == state::AdminState::Maint) {
    schedule(check, check.timing->interval);
    return;
  }
  // A check reads a response by the same limits as traffic to that backend does.
  const upstream::Backend& backend = *(*backends_)[check.backend_index];
  http::ParseLimits limits;
  limits.max_head_bytes = backend.config.max_response_header_bytes;
  limits.max_headers = backend.config.max_response_headers;
  // A TLS server is checked over TLS, to the same name, verified the same way as traffic.
  const std::string& tls_name = check.server->tls_name;
  check.probe = new Probe(loop_, buffers_, *this, check.id, check.request, check.probe_check, limits,
                          tls_name.empty() ? nullptr : backend.tls, tls_name);
  check.probe->start(check.address, check.timing->timeout);
}

void Checker::on_probe_result(std::uint64_t check_id, bool ok, int status, const std::string& reason,
                              std::int64_t elapsed_ms, bool no_verdict) {
  ServerCheck* found = find(check_id);
  if (found == nullptr || stopped_) return;
  ServerCheck& check = *found;
  check.probe = nullptr;
  state::ServerRuntime& server = *check.server;
  if (!no_verdict) {
    server.set_last_check({.ran = true,
                           .ok = ok,
                           .status = status,
                           .duration_ms = elapsed_ms,
                           .at_ms = state::wall_clock_ms(),
                           .reason = reason});
    server.failing_check.store(!ok, std::memory_order_relaxed);
    // A passing check proves the server usable again, whatever traffic concluded meanwhile.
    if (ok) server.unreachable.store(false, std::memory_order_relaxed);
    // A server that starts CHECKING is settled by its first check: UP on a pass, DOWN otherwise.
    const bool first_verdict = server.health() == state::Health::Checking;
    if (first_verdict) check.state.settle(ok);
    if (first_verdict || check.state.observe(ok)) {
      apply_change(check, check.state.up(), fmt::format("check: {}, {}ms", reason, elapsed_ms));
    } else {
      if (!ok && check.state.up() && on_trouble_) {
        // Not DOWN yet, but requests that have waited on it as long as this check did are better
        // off elsewhere now than after `fall` more checks.
        on_trouble_();
      }
      // A pass may have cleared what traffic concluded (unreachable): the backend's mode follows.
      upstream::refresh_status(*(*backends_)[check.backend_index]);
    }
  }
  // Jitter of +-10% keeps the checks of many servers from falling into step.
  const auto interval = next_check_interval(*check.timing, check.state);
  const long spread = std::max(1L, static_cast<long>(interval.count() / 10));
  std::uniform_int_distribution<long> jitter(-spread, spread);
  schedule(check, core::Duration(std::max(1L, static_cast<long>(interval.count()) + jitter(random_))));
}

void Checker::report_traffic_failure(std::shared_ptr<state::ServerRuntime> server, std::string reason) {
  const std::lock_guard lock(reports_mutex_);
  if (reports_closed_) return;
  reports_.emplace_back(std::move(server), std::move(reason));
  reports_signal_.send();
}

void Checker::on_reports(void* self) noexcept {
  auto& checker = *static_cast<Checker*>(self);
  if (checker.stopped_) return;
  std::vector<std::pair<std::shared_ptr<state::ServerRuntime>, std::string>> reports;
  {
    const std::lock_guard lock(checker.reports_mutex_);
    reports.swap(checker.reports_);
  }
  for (auto& [server, reason] : reports) {
    for (auto& check : checker.checks_) {
      if (check->server != server) continue;
      // Only servers under active checks are taken down by traffic: nothing else would bring
      // them back.
      if (check->state.force_down()) checker.apply_change(*check, false, fmt::format("traffic: {}", reason));
    }
  }
}

void Checker::apply_change(ServerCheck& check, bool up, const std::string& why) {
  state::ServerRuntime& server = *check.server;
  server.set_health(up ? state::Health::Up : state::Health::Down, loop_.now_ms());
  server.passive_failures.store(0, std::memory_order_relaxed);
  server.unreachable.store(false, std::memory_order_relaxed);
  const upstream::Backend& backend = *(*backends_)[check.backend_index];
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
  upstream::refresh_status(backend);
  if (!up && on_trouble_) on_trouble_();
}

}  // namespace haven::health
