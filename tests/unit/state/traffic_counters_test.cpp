#include "haven/state/traffic_counters.hpp"

#include <set>
#include <string_view>

#include <doctest/doctest.h>

#include "haven/state/outcome.hpp"

using haven::state::Outcome;
using haven::state::TrafficTotals;
using haven::state::WorkerTraffic;

TEST_CASE("status classes: 1xx to 5xx, and anything else in the last") {
  using haven::state::status_class_index;
  CHECK(status_class_index(101) == 0);
  CHECK(status_class_index(200) == 1);
  CHECK(status_class_index(304) == 2);
  CHECK(status_class_index(404) == 3);
  CHECK(status_class_index(503) == 4);
  CHECK(status_class_index(0) == 5);
  CHECK(status_class_index(600) == 5);
}

TEST_CASE("counters of every worker are summed") {
  WorkerTraffic traffic(3);
  traffic[0].requests.add(2);
  traffic[2].requests.add(5);
  traffic[1].outcomes[static_cast<std::size_t>(Outcome::Maintenance)].add();
  traffic[1].active.add(3);
  traffic[2].active.add(-1);
  const TrafficTotals totals = sum(traffic);
  CHECK(totals.requests == 7);
  CHECK(totals.outcomes[static_cast<std::size_t>(Outcome::Maintenance)] == 1);
  CHECK(totals.active == 2);
}

TEST_CASE("response times land in the bucket whose bound is the first not below them") {
  WorkerTraffic traffic(1);
  traffic[0].observe_response_time(0);
  traffic[0].observe_response_time(1);
  traffic[0].observe_response_time(2);
  traffic[0].observe_response_time(7);
  traffic[0].observe_response_time(1'000'000);
  const TrafficTotals totals = sum(traffic);
  CHECK(totals.response_time[0] == 2);  // <= 1 ms
  CHECK(totals.response_time[1] == 1);  // <= 2 ms
  CHECK(totals.response_time[3] == 1);  // <= 10 ms
  CHECK(totals.response_time.back() == 1);
  CHECK(totals.response_time_sum_ms == 1'000'010);
  CHECK(totals.response_count() == 5);
}

TEST_CASE("quantiles interpolate within a bucket") {
  WorkerTraffic traffic(1);
  for (int i = 0; i < 100; ++i) traffic[0].observe_response_time(8);  // all in (5, 10]
  const TrafficTotals totals = sum(traffic);
  CHECK(totals.response_time_quantile_ms(0.5) == doctest::Approx(7.5));
  CHECK(totals.response_time_quantile_ms(1.0) == doctest::Approx(10.0));
  CHECK(TrafficTotals{}.response_time_quantile_ms(0.99) == 0);
}

TEST_CASE("every outcome has a distinct name; only server faults blame the server") {
  using haven::state::all_outcomes;
  using haven::state::outcome_name;
  std::set<std::string_view> names;
  for (const Outcome outcome : all_outcomes()) names.insert(outcome_name(outcome));
  CHECK(names.size() == haven::state::kOutcomeCount);
  CHECK(outcome_name(Outcome::ClientAbort) == "client_abort");
  CHECK(haven::state::outcome_blames_server(Outcome::ServerTimeout));
  CHECK_FALSE(haven::state::outcome_blames_server(Outcome::ClientTimeout));
  CHECK_FALSE(haven::state::outcome_blames_server(Outcome::Maintenance));
}

TEST_CASE("an exchange is counted once: request, status class, outcome, bytes, and a time if answered") {
  WorkerTraffic traffic(1);
  haven::state::count_exchange(traffic[0], {Outcome::Ok, 200, 10, 500, 3});
  haven::state::count_exchange(traffic[0], {Outcome::Maintenance, 503, 0, 300, 0});
  haven::state::count_exchange(traffic[0], {Outcome::ClientAbort, 0, 4, 0, 20});
  const TrafficTotals totals = sum(traffic);
  CHECK(totals.requests == 3);
  CHECK(totals.responses[1] == 1);  // 2xx
  CHECK(totals.responses[4] == 1);  // 5xx
  CHECK(totals.responses[5] == 1);  // none sent
  CHECK(totals.outcomes[static_cast<std::size_t>(Outcome::Ok)] == 1);
  CHECK(totals.outcomes[static_cast<std::size_t>(Outcome::Maintenance)] == 1);
  CHECK(totals.outcomes[static_cast<std::size_t>(Outcome::ClientAbort)] == 1);
  CHECK(totals.bytes_in == 14);
  CHECK(totals.bytes_out == 800);
  CHECK(totals.response_count() == 2);  // the abort sent no response: no time
  CHECK(totals.response_time_sum_ms == 3);
}
