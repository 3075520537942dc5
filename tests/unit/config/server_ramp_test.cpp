// Backend keys about how servers join traffic: init_state (after a reload) and slow_start.
#include "haven/config/loader.hpp"

#include <doctest/doctest.h>

#include <string>

#include "config_test_support.hpp"

using namespace haven::config;
using haven::config::test::must_fail;
using haven::config::test::must_load;

namespace {
constexpr std::string_view kRest = haven::config::test::kOneBackend;
}  // namespace

TEST_CASE("init_state and slow_start of a backend") {
  const std::string base(kRest);
  const Config defaults = must_load(base);
  CHECK(defaults.backends[0].init_checking);
  CHECK(defaults.backends[0].slow_start.count() == 0);
  std::string tuned = base;
  tuned.replace(tuned.find("[backends.app]\n"), 15, "[backends.app]\ninit_state = \"up\"\nslow_start = \"30s\"\n");
  const Config config = must_load(tuned);
  CHECK_FALSE(config.backends[0].init_checking);
  CHECK(config.backends[0].slow_start.count() == 30000);
  std::string too_slow = base;
  too_slow.replace(too_slow.find("[backends.app]\n"), 15, "[backends.app]\nslow_start = \"2h\"\n");
  CHECK(must_fail(too_slow).message.find("slow_start") != std::string::npos);
  std::string bad_state = base;
  bad_state.replace(bad_state.find("[backends.app]\n"), 15, "[backends.app]\ninit_state = \"down\"\n");
  CHECK(must_fail(bad_state).message.find("init_state") != std::string::npos);
}
