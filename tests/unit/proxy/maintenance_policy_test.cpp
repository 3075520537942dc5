#include "haven/proxy/maintenance_policy.hpp"

#include <array>
#include <vector>

#include <doctest/doctest.h>

using haven::proxy::NavigationFacts;
using haven::proxy::navigation_needs_maintenance;

namespace {
bool decide(const NavigationFacts& facts, const std::vector<bool>& usable, std::vector<std::size_t> required) {
  return navigation_needs_maintenance(facts, required, [&](std::size_t index) { return usable[index]; });
}
}  // namespace

TEST_CASE("a browser navigation gets the page when a required backend is gone") {
  const NavigationFacts navigation{HTTP_GET, true, false};
  CHECK_FALSE(decide(navigation, {true, true}, {0, 1}));
  CHECK(decide(navigation, {true, false}, {0, 1}));
  CHECK(decide(navigation, {false, true}, {0, 1}));
  CHECK(decide(NavigationFacts{HTTP_HEAD, true, false}, {false, true}, {0, 1}));
}

TEST_CASE("only required backends count") {
  const NavigationFacts navigation{HTTP_GET, true, false};
  CHECK_FALSE(decide(navigation, {true, false}, {0}));
  CHECK_FALSE(decide(navigation, {false, false}, {}));
}

TEST_CASE("API calls, other methods and the health URLs are routed by their own backend") {
  const std::vector<bool> api_down{true, false};
  CHECK_FALSE(decide(NavigationFacts{HTTP_GET, false, false}, api_down, {0, 1}));  // fetch() of JSON
  CHECK_FALSE(decide(NavigationFacts{HTTP_POST, true, false}, api_down, {0, 1}));
  CHECK_FALSE(decide(NavigationFacts{HTTP_GET, true, true}, api_down, {0, 1}));   // a poll URL
}
