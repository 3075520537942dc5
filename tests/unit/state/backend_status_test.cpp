#include "haven/state/backend_status.hpp"

#include <memory>

#include <doctest/doctest.h>

using namespace haven::state;

TEST_CASE("a backend status records transitions, not repeats, and rings on each") {
  auto signal = std::make_shared<StatusSignal>();
  int rings = 0;
  signal->listen([&rings] { ++rings; });
  BackendStatus status(1000, signal);
  const auto first = status.read();
  CHECK(first.mode == BackendMode::Primary);
  CHECK(first.since_ms == 1000);
  CHECK_FALSE(first.changed);
  CHECK(first.reason.empty());
  const auto generation = status.generation();

  CHECK_FALSE(status.update(BackendMode::Primary, "nothing", 2000));
  CHECK(status.generation() == generation);
  CHECK(rings == 0);

  CHECK(status.update(BackendMode::Backup, "main servers failing checks", 3000));
  CHECK(status.generation() == generation + 1);
  CHECK(rings == 1);
  const auto after = status.read();
  CHECK(after.mode == BackendMode::Backup);
  CHECK(after.previous == BackendMode::Primary);
  CHECK(after.since_ms == 3000);
  CHECK(after.changed);
  CHECK(after.reason == "main servers failing checks");

  CHECK_FALSE(status.update(BackendMode::Backup, "again", 4000));
  CHECK(status.read().since_ms == 3000);  // the transition's time stays

  signal->listen({});  // a listener that is gone is never called
  CHECK(status.update(BackendMode::Maintenance, "main and backup servers unreachable", 5000));
  CHECK(rings == 1);
}

TEST_CASE("mode names and which modes serve") {
  CHECK(backend_mode_name(BackendMode::Primary) == "primary");
  CHECK(backend_mode_name(BackendMode::Backup) == "backup");
  CHECK(backend_mode_name(BackendMode::Maintenance) == "maintenance");
  CHECK(backend_mode_name(BackendMode::Stale) == "stale");
  CHECK(mode_serves(BackendMode::Primary));
  CHECK(mode_serves(BackendMode::Backup));
  CHECK_FALSE(mode_serves(BackendMode::Maintenance));
  CHECK_FALSE(mode_serves(BackendMode::Stale));
}
