#include "haven/state/server_runtime.hpp"

#include <doctest/doctest.h>

using haven::state::AdminState;
using haven::state::Health;
using haven::state::kWeightScale;
using haven::state::ramped_weight;
using haven::state::ServerRuntime;

TEST_CASE("slow start ramps a weight linearly from almost nothing to all of it") {
  constexpr std::uint64_t kUp = 1'000'000;  // when the server came UP (monotonic ms)
  constexpr std::uint64_t kRamp = 10'000;
  CHECK(ramped_weight(10, kUp, kUp, kRamp) == 1);  // never 0: an UP server takes some traffic
  CHECK(ramped_weight(10, kUp, kUp + 2'500, kRamp) == 10 * kWeightScale / 4);
  CHECK(ramped_weight(10, kUp, kUp + 5'000, kRamp) == 10 * kWeightScale / 2);
  CHECK(ramped_weight(10, kUp, kUp + 10'000, kRamp) == 10 * kWeightScale);
  CHECK(ramped_weight(10, kUp, kUp + 99'000, kRamp) == 10 * kWeightScale);
  CHECK(ramped_weight(1, kUp, kUp + 5'000, kRamp) == kWeightScale / 2);  // a weight of 1 ramps too
}

TEST_CASE("no ramp without slow start, for a server UP since start-up, or at weight 0") {
  CHECK(ramped_weight(3, 5'000, 5'001, 0) == 3 * kWeightScale);
  CHECK(ramped_weight(3, 0, 5'001, 10'000) == 3 * kWeightScale);
  CHECK(ramped_weight(0, 5'000, 5'001, 10'000) == 0);
}

TEST_CASE("coming UP records when; other changes do not") {
  ServerRuntime server("api", "a", {"127.0.0.1", 80, false, "127.0.0.1:80"}, "", std::nullopt, Health::Up, nullptr);
  CHECK(server.up_since_ms() == 0);
  CHECK(server.set_health(Health::Down, 100));
  CHECK(server.up_since_ms() == 0);
  CHECK(server.set_health(Health::Up, 200));
  CHECK(server.up_since_ms() == 200);
  CHECK_FALSE(server.set_health(Health::Up, 300));
  CHECK(server.up_since_ms() == 200);
  CHECK(server.health_changes() == 2);
}

TEST_CASE("admin state and weight are apart from health") {
  ServerRuntime server("api", "a", {"127.0.0.1", 80, false, "127.0.0.1:80"}, "", std::nullopt, Health::Up, nullptr);
  CHECK(server.serving());
  CHECK(server.set_admin_state(AdminState::Drain));
  CHECK_FALSE(server.serving());
  CHECK(server.healthy());
  CHECK_FALSE(server.set_admin_state(AdminState::Drain));
  server.set_runtime_weight(0);
  CHECK(server.effective_weight(5) == 0);
  server.set_runtime_weight(std::nullopt);
  CHECK(server.effective_weight(5) == 5);
  CHECK(haven::state::parse_admin_state("maint") == AdminState::Maint);
  CHECK_FALSE(haven::state::parse_admin_state("MAINT").has_value());
}
