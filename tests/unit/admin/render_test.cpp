#include "haven/admin/render.hpp"
#include "haven/core/wall_time.hpp"

#include <doctest/doctest.h>

#include <string>

using haven::admin::BackendStats;
using haven::admin::ServerStats;
using haven::admin::Stats;

namespace {
Stats sample() {
  Stats stats;
  stats.process.version = "0.1.0";
  stats.process.started_ms = 1'000'000;
  stats.process.now_ms = 1'005'000;
  BackendStats backend;
  backend.name = "api";
  ServerStats server;
  server.name = "a";
  server.traffic.responses[1] = 4;
  server.traffic.response_time[0] = 3;  // <= 1 ms
  server.traffic.response_time[5] = 1;  // <= 50 ms
  server.traffic.response_time_sum_ms = 42;
  backend.servers.push_back(server);
  stats.backends.push_back(backend);
  return stats;
}
bool has(const std::string& text, const std::string& fragment) { return text.find(fragment) != std::string::npos; }
}  // namespace

TEST_CASE("Prometheus: one series per state, cumulative buckets in seconds, sum and count") {
  const std::string text = render_prometheus(sample());
  CHECK(has(text, "# TYPE haven_server_status gauge\n"));
  CHECK(has(text, "haven_server_status{backend=\"api\",server=\"a\",state=\"UP\"} 1\n"));
  CHECK(has(text, "haven_server_status{backend=\"api\",server=\"a\",state=\"DOWN\"} 0\n"));
  CHECK(has(text, "haven_http_response_duration_seconds_bucket{backend=\"api\",server=\"a\",le=\"0.001\"} 3\n"));
  CHECK(has(text, "haven_http_response_duration_seconds_bucket{backend=\"api\",server=\"a\",le=\"0.05\"} 4\n"));
  CHECK(has(text, "haven_http_response_duration_seconds_bucket{backend=\"api\",server=\"a\",le=\"+Inf\"} 4\n"));
  CHECK(has(text, "haven_http_response_duration_seconds_sum{backend=\"api\",server=\"a\"} 0.042\n"));
  CHECK(has(text, "haven_http_response_duration_seconds_count{backend=\"api\",server=\"a\"} 4\n"));
  CHECK(has(text, "haven_http_responses_total{backend=\"api\",server=\"a\",code_class=\"2xx\"} 4\n"));
  CHECK(text.back() == '\n');
}

TEST_CASE("a drained server reports DRAIN as its status") {
  Stats stats = sample();
  stats.backends[0].servers[0].admin = haven::state::AdminState::Drain;
  const std::string text = render_prometheus(stats);
  CHECK(has(text, "state=\"DRAIN\"} 1\n"));
  CHECK(has(text, "state=\"UP\"} 0\n"));
}

TEST_CASE("stats.json: times as ISO 8601, no runtime weight as null, names escaped") {
  Stats stats = sample();
  stats.backends[0].servers[0].health_since_ms = 1'796'223'237'317;
  stats.process.config_source = "conf/\"odd\".toml";
  const std::string json = render_stats_json(stats);
  CHECK(has(json, "\"since\":\"2026-12-02T14:53:57.317Z\""));
  CHECK(has(json, "\"runtime\":null"));
  CHECK(has(json, "\"source\":\"conf/\\\"odd\\\".toml\""));
  CHECK(has(json, "\"last_check\":null"));
  CHECK(haven::core::iso8601(0) == "1970-01-01T00:00:00.000Z");
}
