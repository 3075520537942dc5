#include "haven/admin/history.hpp"

#include <doctest/doctest.h>

using haven::admin::History;

TEST_CASE("the first sample primes; later ones give per-interval counts and a rate") {
  History history;
  history.record("b/api", 100, 1, 0);
  CHECK(history.rates("b/api").requests.empty());
  history.record("b/api", 150, 3, 5000);
  history.record("b/api", 160, 3, 10000);
  const auto rates = history.rates("b/api");
  CHECK(rates.requests == std::vector<std::uint64_t>{50, 10});
  CHECK(rates.errors == std::vector<std::uint64_t>{2, 0});
  CHECK(rates.requests_per_second == doctest::Approx(2.0));
}

TEST_CASE("at most five minutes are kept, oldest first out") {
  History history;
  for (std::int64_t i = 0; i <= static_cast<std::int64_t>(History::kPoints) + 10; ++i) {
    history.record("f/web", static_cast<std::uint64_t>(i * i), 0, i * History::kIntervalMs);
  }
  const auto rates = history.rates("f/web");
  CHECK(rates.requests.size() == History::kPoints);
  const auto last = static_cast<std::uint64_t>(History::kPoints + 10);
  CHECK(rates.requests.back() == last * last - (last - 1) * (last - 1));
}

TEST_CASE("a total that went down (a replaced entity) starts the series over; gone entities are dropped") {
  History history;
  history.record("s/api/a", 10, 0, 0);
  history.record("s/api/a", 20, 0, 5000);
  history.record("s/api/a", 5, 0, 10000);
  CHECK(history.rates("s/api/a").requests == std::vector<std::uint64_t>{10});
  history.record("s/api/a", 8, 0, 15000);
  CHECK(history.rates("s/api/a").requests == std::vector<std::uint64_t>{10, 3});
  history.keep_only({"f/web"});
  CHECK(history.rates("s/api/a").requests.empty());
}
