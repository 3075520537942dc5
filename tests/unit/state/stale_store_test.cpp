#include "haven/state/stale_store.hpp"

#include <chrono>
#include <memory>
#include <string>

#include <doctest/doctest.h>

using namespace haven::state;

namespace {

std::shared_ptr<const StaleCopy> copy(std::string body, std::uint64_t at_ms, std::vector<std::string> vary = {}) {
  auto c = std::make_shared<StaleCopy>();
  c->head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  c->body = std::move(body);
  c->stored_ms = at_ms;
  c->vary_values = std::move(vary);
  return c;
}

std::string_view no_fields(std::string_view /*name*/) { return {}; }

StaleLimits limits(std::uint64_t max_total, std::uint64_t max_age = 60000) {
  return {.max_age_ms = max_age, .max_entry = 1000, .max_total = max_total, .probe_interval_ms = 1000};
}

}  // namespace

TEST_CASE("a copy is found until max_age, then never") {
  StaleStore store(limits(1 << 20, 5000));
  CHECK_FALSE(store.has_fresh(1000));
  store.put("h /a", {}, copy("A", 1000));
  CHECK(store.find("h /a", no_fields, 1000) != nullptr);
  CHECK(store.find("h /a", no_fields, 5999)->body == "A");
  CHECK(store.has_fresh(5999));
  CHECK(store.find("h /a", no_fields, 6000) == nullptr);
  CHECK_FALSE(store.has_fresh(6000));
  CHECK(store.find("h /b", no_fields, 1000) == nullptr);
  // A clock a little behind the one that stored it is not "very old".
  CHECK(store.find("h /a", no_fields, 900) != nullptr);
  CHECK(store.counters().hits == 3);
}

TEST_CASE("a URL is copied at most once a second") {
  StaleStore store(limits(1 << 20));
  CHECK(store.wants("h /a", {}, no_fields, 1000));
  store.put("h /a", {}, copy("A", 1000));
  CHECK_FALSE(store.wants("h /a", {}, no_fields, 1500));
  CHECK(store.wants("h /a", {}, no_fields, 2000));
  CHECK(store.wants("h /b", {}, no_fields, 1500));
}

TEST_CASE("bytes are bounded by max_total, least recently used first") {
  // Each entry: key (4, held twice) + head (38) + body (100) + bookkeeping (160): about 306.
  StaleStore store(limits(1000));
  for (int i = 0; i < 3; ++i) store.put("h /" + std::to_string(i), {}, copy(std::string(100, 'x'), 1000));
  CHECK(store.counters().entries == 3);
  store.find("h /0", no_fields, 1000);  // /0 is now the most recent
  store.put("h /3", {}, copy(std::string(100, 'y'), 1000));
  const auto counters = store.counters();
  CHECK(counters.bytes <= 1000);
  CHECK(counters.evictions == 1);
  CHECK(store.find("h /1", no_fields, 1000) == nullptr);  // the least recently used went
  CHECK(store.find("h /0", no_fields, 1000) != nullptr);
  CHECK(store.find("h /3", no_fields, 1000) != nullptr);
  // A copy larger than max_entry is not kept.
  store.put("h /big", {}, copy(std::string(2000, 'z'), 1000));
  CHECK(store.find("h /big", no_fields, 1000) == nullptr);
  // A reload lowering max_total evicts at once.
  store.set_limits(limits(200));
  CHECK(store.counters().bytes <= 200);
}

TEST_CASE("variants by Vary, and a change of Vary drops the old ones") {
  StaleStore store(limits(1 << 20));
  store.put("h /v", {"accept-encoding"}, copy("gz", 1000, {"gzip"}));
  store.put("h /v", {"accept-encoding"}, copy("id", 1000, {""}));
  const auto gzip = [](std::string_view) { return std::string_view("gzip"); };
  CHECK(store.find("h /v", gzip, 1000)->body == "gz");
  CHECK(store.find("h /v", no_fields, 1000)->body == "id");
  CHECK(store.find("h /v", [](std::string_view) { return std::string_view("br"); }, 1000) == nullptr);
  CHECK_FALSE(store.wants("h /v", {"accept-encoding"}, gzip, 1500));
  CHECK(store.wants("h /v", {"accept-encoding"}, [](std::string_view) { return std::string_view("br"); }, 1500));
  store.put("h /v", {"accept-language"}, copy("en", 1000, {"en"}));
  CHECK(store.find("h /v", gzip, 1000) == nullptr);
}

TEST_CASE("single flight: one request per probe interval while a URL fails; failing marks expire") {
  StaleStore store(limits(1 << 20));
  store.put("h /a", {}, copy("A", 1000));
  CHECK_FALSE(store.any_failing(1000));
  CHECK(store.may_probe("h /a", 1000));  // not failing: every request goes
  store.failed("h /a", 1000);
  CHECK(store.any_failing(1000));
  CHECK_FALSE(store.may_probe("h /a", 1500));
  CHECK(store.may_probe("h /a", 2000));       // the probe of this interval
  CHECK_FALSE(store.may_probe("h /a", 2100));  // the others wait for the next one
  CHECK(store.may_probe("h /a", 3000));
  store.succeeded("h /a");
  CHECK(store.may_probe("h /a", 3001));
  // A good answer kept again also ends the failing state.
  store.failed("h /a", 4000);
  store.put("h /a", {}, copy("A2", 5000));
  CHECK(store.may_probe("h /a", 5000));
  // A URL nobody asks for again stops counting by itself (3 probe intervals, at least 3 s).
  store.failed("h /a", 10000);
  CHECK(store.any_failing(12999));
  CHECK(store.counters().failing <= 1);
  CHECK_FALSE(store.any_failing(13000));
  CHECK(store.may_probe("h /a", 13000));
}

TEST_CASE("copies in progress are bounded by max_total") {
  StaleStore store(limits(1000));
  CHECK(store.reserve_capture(600));
  CHECK_FALSE(store.reserve_capture(500));
  CHECK(store.reserve_capture(400));
  CHECK(store.counters().capturing_bytes == 1000);
  store.release_capture(600);
  CHECK(store.reserve_capture(500));
  store.release_capture(900);
  CHECK(store.counters().capturing_bytes == 0);
}

TEST_CASE("a copy's bytes count what it holds besides head and body") {
  const auto c = copy("body", 1000, {std::string(1000, 'v')});
  CHECK(c->bytes() >= c->head.size() + c->body.size() + 1000 + StaleCopy::kOverhead);
}

TEST_CASE("copies of failing URLs are evicted last (pinned while they are being served)") {
  StaleStore store(limits(1000));  // three entries of about 306 bytes fit
  const auto now = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::steady_clock::now().time_since_epoch())
                                                  .count());
  store.put("h /0", {}, copy(std::string(100, 'a'), now));
  store.failed("h /0", now);  // /0 is the least recently used, and failing (on the store's clock)
  store.put("h /1", {}, copy(std::string(100, 'b'), now));
  store.put("h /2", {}, copy(std::string(100, 'c'), now));
  store.put("h /3", {}, copy(std::string(100, 'd'), now));
  CHECK(store.find("h /0", no_fields, now) != nullptr);  // kept: its outage goes on
  CHECK(store.find("h /1", no_fields, now) == nullptr);  // the least recently used of the others went
  CHECK(store.counters().bytes <= 1000);
}
