#include "haven/proxy/maintenance_policy.hpp"

#include <array>
#include <vector>

#include <doctest/doctest.h>

using haven::http::Method;
using haven::proxy::NavigationFacts;
using haven::proxy::navigation_needs_maintenance;

namespace {
bool decide(const NavigationFacts& facts, const std::vector<bool>& usable, std::vector<std::size_t> required) {
  return navigation_needs_maintenance(facts, required, [&](std::size_t index) { return usable[index]; });
}
}  // namespace

TEST_CASE("a browser navigation gets the page when a required backend is gone") {
  const NavigationFacts navigation{Method::Get, true, false};
  CHECK_FALSE(decide(navigation, {true, true}, {0, 1}));
  CHECK(decide(navigation, {true, false}, {0, 1}));
  CHECK(decide(navigation, {false, true}, {0, 1}));
  CHECK(decide(NavigationFacts{Method::Head, true, false}, {false, true}, {0, 1}));
}

TEST_CASE("only required backends count") {
  const NavigationFacts navigation{Method::Get, true, false};
  CHECK_FALSE(decide(navigation, {true, false}, {0}));
  CHECK_FALSE(decide(navigation, {false, false}, {}));
}

TEST_CASE("API calls, other methods and the health URLs are routed by their own backend") {
  const std::vector<bool> api_down{true, false};
  CHECK_FALSE(decide(NavigationFacts{Method::Get, false, false}, api_down, {0, 1}));  // fetch() of JSON
  CHECK_FALSE(decide(NavigationFacts{Method::Post, true, false}, api_down, {0, 1}));
  CHECK_FALSE(decide(NavigationFacts{Method::Get, true, true}, api_down, {0, 1}));   // a poll URL
}
