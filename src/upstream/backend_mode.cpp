#include "haven/upstream/backend_mode.hpp"

#include <array>
#include <ctime>

namespace haven::upstream {

namespace {

// The clock the workers' loops use (libuv's uv_now is CLOCK_MONOTONIC in ms), for copy ages.
std::uint64_t monotonic_ms() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1000 + static_cast<std::uint64_t>(now.tv_nsec) / 1000000;
}

std::string_view condition_words(ServerCondition condition) {
  switch (condition) {
    case ServerCondition::Serving:
      return "in service";
    case ServerCondition::FailingChecks:
      return "failing checks";
    case ServerCondition::Unreachable:
      return "unreachable";
    case ServerCondition::Checking:
      return "awaiting their first check";
    case ServerCondition::Operator:
      return "taken out of service by an operator";
  }
  return "out of service";
}

// "failing checks", "failing checks and unreachable", "a, b and c": every condition found among
// the servers `wanted` selects that are not serving, in enum order.
template <typename Wanted>
std::string conditions_of(std::span<const ServerFacts> servers, Wanted&& wanted) {
  std::array<bool, 5> seen{};
  for (const ServerFacts& server : servers) {
    if (wanted(server) && server.condition != ServerCondition::Serving) {
      seen[static_cast<std::size_t>(server.condition)] = true;
    }
  }
  std::string words;
  std::size_t count = 0;
  for (const bool found : seen) count += found ? 1 : 0;
  std::size_t written = 0;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) continue;
    if (written > 0) words += written + 1 == count ? " and " : ", ";
    words += condition_words(static_cast<ServerCondition>(i));
    ++written;
  }
  return words.empty() ? std::string("out of service") : words;
}

}  // namespace

ServerCondition condition_of(const Server& server) {
  const state::ServerRuntime& runtime = server.runtime;
  if (runtime.admin_state() != state::AdminState::Ready || server.weight() <= 0) return ServerCondition::Operator;
  switch (runtime.health()) {
    case state::Health::Checking:
      return ServerCondition::Checking;
    case state::Health::Down:
      return ServerCondition::FailingChecks;
    case state::Health::Up:
      break;
  }
  if (runtime.unreachable.load(std::memory_order_relaxed)) return ServerCondition::Unreachable;
  return ServerCondition::Serving;
}

state::BackendMode routing_mode(std::span<const ServerFacts> servers) {
  bool backup_serving = false;
  for (const ServerFacts& server : servers) {
    if (server.condition != ServerCondition::Serving) continue;
    if (!server.backup) return state::BackendMode::Primary;
    backup_serving = true;
  }
  return backup_serving ? state::BackendMode::Backup : state::BackendMode::Maintenance;
}

std::string mode_change_reason(std::span<const ServerFacts> servers, state::BackendMode from, state::BackendMode to) {
  using state::BackendMode;
  const auto main_only = [](const ServerFacts& s) { return !s.backup; };
  bool has_backups = false;
  for (const ServerFacts& server : servers) has_backups = has_backups || server.backup;
  switch (to) {
    case BackendMode::Primary:
      return "main servers back in service";
    case BackendMode::Backup:
      if (from == BackendMode::Maintenance || from == BackendMode::Stale) {
        return "backup servers back in service; main servers " + conditions_of(servers, main_only);
      }
      return "main servers " + conditions_of(servers, main_only);
    case BackendMode::Maintenance:
    case BackendMode::Stale:
      if (!has_backups) return "main servers " + conditions_of(servers, main_only);
      return "main and backup servers " + conditions_of(servers, [](const ServerFacts&) { return true; });
  }
  return "";
}

bool refresh_status(const Backend& backend) {
  state::BackendStatus& status = backend.runtime->status;
  const std::lock_guard lock(status.refresh_mutex());
  std::array<ServerFacts, config::kMaxServersPerBackend> facts{};
  const std::size_t count = std::min(backend.servers.size(), facts.size());
  for (std::size_t i = 0; i < count; ++i) {
    facts[i] = {backend.servers[i]->config.backup, condition_of(*backend.servers[i])};
  }
  const std::span<const ServerFacts> servers(facts.data(), count);
  state::BackendMode mode = routing_mode(servers);
  // Served from last-good copies: no server can take the requests and copies young enough exist,
  // or the servers take requests but fail some URLs, whose copies go out instead.
  bool stale_with_servers = false;
  if (backend.stale != nullptr) {
    if (mode == state::BackendMode::Maintenance && backend.stale->has_fresh(monotonic_ms())) {
      mode = state::BackendMode::Stale;
    } else if (mode != state::BackendMode::Maintenance && backend.stale->any_failing(monotonic_ms())) {
      mode = state::BackendMode::Stale;
      stale_with_servers = true;
    }
  }
  const state::StatusRecord before = status.read();
  if (before.mode == mode) return false;
  std::string reason = stale_with_servers ? std::string("servers failing requests")
                                          : mode_change_reason(servers, before.mode, mode);
  if (mode == state::BackendMode::Stale) reason += "; serving saved copies";
  if (before.mode == state::BackendMode::Stale && mode == state::BackendMode::Maintenance) {
    reason = "saved copies older than max_age; " + reason;
  }
  return status.update(mode, reason, state::wall_clock_ms());
}

}  // namespace haven::upstream
