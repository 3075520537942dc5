#include "haven/upstream/backend_mode.hpp"

#include <vector>

#include <doctest/doctest.h>

using haven::state::BackendMode;
using namespace haven::upstream;

namespace {
constexpr ServerFacts main_server(ServerCondition condition) { return {false, condition}; }
constexpr ServerFacts backup_server(ServerCondition condition) { return {true, condition}; }
}  // namespace

TEST_CASE("the mode follows the tier routing uses") {
  using C = ServerCondition;
  CHECK(routing_mode(std::vector{main_server(C::Serving), backup_server(C::Serving)}) == BackendMode::Primary);
  CHECK(routing_mode(std::vector{main_server(C::FailingChecks), main_server(C::Serving)}) == BackendMode::Primary);
  CHECK(routing_mode(std::vector{main_server(C::FailingChecks), backup_server(C::Serving)}) == BackendMode::Backup);
  CHECK(routing_mode(std::vector{main_server(C::Operator), backup_server(C::Serving)}) == BackendMode::Backup);
  CHECK(routing_mode(std::vector{main_server(C::Unreachable), backup_server(C::Checking)}) ==
        BackendMode::Maintenance);
  CHECK(routing_mode(std::vector{main_server(C::FailingChecks)}) == BackendMode::Maintenance);
  CHECK(routing_mode(std::vector<ServerFacts>{}) == BackendMode::Maintenance);
}

TEST_CASE("reasons say what happened to which tier, never which server") {
  using C = ServerCondition;
  const std::vector failing{main_server(C::FailingChecks), main_server(C::FailingChecks), backup_server(C::Serving)};
  CHECK(mode_change_reason(failing, BackendMode::Primary, BackendMode::Backup) == "main servers failing checks");

  const std::vector mixed{main_server(C::FailingChecks), main_server(C::Operator), backup_server(C::Serving)};
  CHECK(mode_change_reason(mixed, BackendMode::Primary, BackendMode::Backup) ==
        "main servers failing checks and taken out of service by an operator");

  const std::vector three{main_server(C::FailingChecks), main_server(C::Unreachable), main_server(C::Checking),
                          backup_server(C::Unreachable)};
  CHECK(mode_change_reason(three, BackendMode::Backup, BackendMode::Maintenance) ==
        "main and backup servers failing checks, unreachable and awaiting their first check");

  const std::vector no_backups{main_server(C::Unreachable)};
  CHECK(mode_change_reason(no_backups, BackendMode::Primary, BackendMode::Maintenance) ==
        "main servers unreachable");

  const std::vector back{main_server(C::Serving), backup_server(C::Serving)};
  CHECK(mode_change_reason(back, BackendMode::Maintenance, BackendMode::Primary) == "main servers back in service");

  const std::vector backup_back{main_server(C::FailingChecks), backup_server(C::Serving)};
  CHECK(mode_change_reason(backup_back, BackendMode::Maintenance, BackendMode::Backup) ==
        "backup servers back in service; main servers failing checks");
}
