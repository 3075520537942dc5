#include "haven/upstream/balancer.hpp"

#include <array>
#include <map>

#include <doctest/doctest.h>

using haven::config::Balance;
using namespace haven::upstream;

namespace {
std::map<std::size_t, int> spread(Balance policy, std::span<const Candidate> servers, int requests,
                                  bool all_backups = false) {
  BalancerState state;
  std::map<std::size_t, int> counts;
  for (int i = 0; i < requests; ++i) {
    const auto chosen = choose_server(policy, all_backups, servers, TriedSet{}, state);
    REQUIRE(chosen.has_value());
    ++counts[*chosen];
  }
  return counts;
}
}  // namespace

TEST_CASE("round robin respects weights, interleaved") {
  const std::array<Candidate, 2> servers{Candidate{true, false, 1, 0}, Candidate{true, false, 3, 0}};
  auto counts = spread(Balance::RoundRobin, servers, 100);
  CHECK(counts[0] == 25);
  CHECK(counts[1] == 75);
  // Smooth: never more than three of the heavy server in a row.
  BalancerState state;
  int run = 0;
  int longest = 0;
  for (int i = 0; i < 40; ++i) {
    const auto chosen = *choose_server(Balance::RoundRobin, false, servers, TriedSet{}, state);
    run = chosen == 1 ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  CHECK(longest <= 3);
}

TEST_CASE("weight 0 and down servers take no new requests") {
  const std::array<Candidate, 3> servers{Candidate{true, false, 0, 0}, Candidate{false, false, 1, 0},
                                         Candidate{true, false, 1, 0}};
  auto counts = spread(Balance::RoundRobin, servers, 10);
  CHECK(counts[2] == 10);
}

TEST_CASE("first sends everything to the first usable server") {
  const std::array<Candidate, 3> servers{Candidate{false, false, 1, 0}, Candidate{true, false, 1, 0},
                                         Candidate{true, false, 1, 0}};
  auto counts = spread(Balance::First, servers, 10);
  CHECK(counts[1] == 10);
}

TEST_CASE("leastconn prefers the least loaded server relative to weight") {
  const std::array<Candidate, 3> servers{Candidate{true, false, 1, 5}, Candidate{true, false, 1, 2},
                                         Candidate{true, false, 2, 5}};
  BalancerState state;
  // active/weight: 5, 2, 2.5 -> server 1.
  CHECK(choose_server(Balance::LeastConn, false, servers, TriedSet{}, state) == 1u);
}

TEST_CASE("tiers: backups only when no main server is up") {
  std::array<Candidate, 4> servers{Candidate{true, false, 1, 0}, Candidate{true, false, 1, 0},
                                   Candidate{true, true, 1, 0}, Candidate{true, true, 1, 0}};
  CHECK(usable_tier(servers) == Tier::Main);
  auto counts = spread(Balance::RoundRobin, servers, 10);
  CHECK(counts[0] == 5);
  CHECK(counts[1] == 5);
  CHECK(counts.count(2) == 0);

  servers[0].up = false;
  servers[1].up = false;
  CHECK(usable_tier(servers) == Tier::Backup);
  counts = spread(Balance::RoundRobin, servers, 10);
  CHECK(counts[2] == 10);  // the first backup in declared order
  counts = spread(Balance::RoundRobin, servers, 10, /*all_backups=*/true);
  CHECK(counts[2] == 5);
  CHECK(counts[3] == 5);

  servers[2].up = false;
  counts = spread(Balance::RoundRobin, servers, 4);
  CHECK(counts[3] == 4);

  servers[1].up = true;  // a main server is back: new requests go to it again
  CHECK(usable_tier(servers) == Tier::Main);
  counts = spread(Balance::RoundRobin, servers, 4);
  CHECK(counts[1] == 4);

  servers[1].up = false;
  servers[3].up = false;
  CHECK(usable_tier(servers) == Tier::None);
  BalancerState state;
  CHECK_FALSE(choose_server(Balance::RoundRobin, false, servers, TriedSet{}, state).has_value());
}

TEST_CASE("retries go to an untried server of the same tier, then to the backups") {
  const std::array<Candidate, 3> servers{Candidate{true, false, 1, 0}, Candidate{true, false, 1, 0},
                                         Candidate{true, true, 1, 0}};
  BalancerState state;
  TriedSet tried;
  tried.add(0);
  CHECK(choose_server(Balance::RoundRobin, false, servers, tried, state) == 1u);
  tried.add(1);
  CHECK(choose_server(Balance::RoundRobin, false, servers, tried, state) == 2u);
  tried.add(2);
  // Everything tried: the tier in force is used again rather than failing outright.
  const auto again = choose_server(Balance::RoundRobin, false, servers, tried, state);
  REQUIRE(again.has_value());
  CHECK(*again < 2u);
}
