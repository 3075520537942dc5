#include "haven/upstream/backend_mode.hpp"

#include <array>

namespace haven::upstream {

namespace {

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
  std::array<ServerFacts, config::kMaxServersPerBackend> facts{};
  const std::size_t count = std::min(backend.servers.size(), facts.size());
  for (std::size_t i = 0; i < count; ++i) {
    facts[i] = {backend.servers[i]->config.backup, condition_of(*backend.servers[i])};
  }
  const std::span<const ServerFacts> servers(facts.data(), count);
  const state::BackendMode mode = routing_mode(servers);
  state::BackendStatus& status = backend.runtime->status;
  const state::StatusRecord before = status.read();
  if (before.mode == mode) return false;
  return status.update(mode, mode_change_reason(servers, before.mode, mode), state::wall_clock_ms());
}

}  // namespace haven::upstream
