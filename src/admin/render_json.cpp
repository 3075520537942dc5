#include <ctime>

#include <fmt/format.h>

#include "haven/admin/render.hpp"
#include "haven/core/json_text.hpp"

namespace haven::admin {

namespace {

using core::append_json_string;

constexpr std::array<const char*, state::kStatusClasses> kClassNames{"1xx", "2xx", "3xx", "4xx", "5xx", "other"};

class JsonOut {
 public:
  std::string text;
  void key(std::string_view name) {
    separate();
    append_json_string(text, name);
    text.push_back(':');
    fresh_ = true;
  }
  void open(char bracket) {
    separate();
    text.push_back(bracket);
    fresh_ = true;
  }
  void close(char bracket) {
    text.push_back(bracket);
    fresh_ = false;
  }
  void string(std::string_view value) {
    separate();
    append_json_string(text, value);
  }
  void number(std::uint64_t value) {
    separate();
    fmt::format_to(std::back_inserter(text), "{}", value);
  }
  void signed_number(std::int64_t value) {
    separate();
    fmt::format_to(std::back_inserter(text), "{}", value);
  }
  void real(double value) {
    separate();
    fmt::format_to(std::back_inserter(text), "{:.3f}", value);
  }
  void boolean(bool value) {
    separate();
    text.append(value ? "true" : "false");
  }
  void null() {
    separate();
    text.append("null");
  }
  void time_or_null(std::int64_t epoch_ms) {
    if (epoch_ms == 0) {
      null();
    } else {
      string(iso8601(epoch_ms));
    }
  }

 private:
  // A value or key after another in the same object or array gets a comma.
  void separate() {
    if (!fresh_ && !text.empty() && text.back() != ':') text.push_back(',');
    fresh_ = false;
  }
  bool fresh_ = true;
};

void write_series(JsonOut& out, const std::vector<std::uint64_t>& values) {
  out.open('[');
  for (const auto value : values) out.number(value);
  out.close(']');
}

void write_traffic(JsonOut& out, const state::TrafficTotals& traffic, const Rates& rates) {
  out.key("requests");
  out.number(traffic.requests);
  out.key("requests_per_second");
  out.real(rates.requests_per_second);
  out.key("responses");
  out.open('{');
  for (std::size_t i = 0; i < state::kStatusClasses; ++i) {
    out.key(kClassNames[i]);
    out.number(traffic.responses[i]);
  }
  out.close('}');
  out.key("outcomes");
  out.open('{');
  for (const state::Outcome outcome : state::all_outcomes()) {
    out.key(state::outcome_name(outcome));
    out.number(traffic.outcomes[static_cast<std::size_t>(outcome)]);
  }
  out.close('}');
  out.key("bytes_in");
  out.number(traffic.bytes_in);
  out.key("bytes_out");
  out.number(traffic.bytes_out);
  out.key("response_time_ms");
  out.open('{');
  out.key("p50");
  out.real(traffic.response_time_quantile_ms(0.5));
  out.key("p99");
  out.real(traffic.response_time_quantile_ms(0.99));
  out.close('}');
  out.key("history");
  out.open('{');
  out.key("interval_seconds");
  out.number(static_cast<std::uint64_t>(History::kIntervalMs / 1000));
  out.key("requests");
  write_series(out, rates.requests);
  out.key("errors");
  write_series(out, rates.errors);
  out.close('}');
}

void write_server(JsonOut& out, const ServerStats& server) {
  out.open('{');
  out.key("name");
  out.string(server.name);
  out.key("address");
  out.string(server.address);
  out.key("tier");
  out.string(server.backup ? "backup" : "main");
  out.key("serving");
  out.boolean(server.serving);
  out.key("health");
  out.open('{');
  out.key("state");
  out.string(state::health_name(server.health));
  out.key("since");
  out.time_or_null(server.health_since_ms);
  out.key("checked");
  out.boolean(server.checked);
  out.key("changes");
  out.number(server.health_changes);
  out.close('}');
  out.key("admin");
  out.open('{');
  out.key("state");
  out.string(state::admin_state_name(server.admin));
  out.key("since");
  out.time_or_null(server.admin_since_ms);
  out.close('}');
  out.key("weight");
  out.open('{');
  out.key("configured");
  out.signed_number(server.weight_configured);
  out.key("runtime");
  if (server.weight_runtime) {
    out.signed_number(*server.weight_runtime);
  } else {
    out.null();
  }
  out.key("effective");
  out.signed_number(server.weight_effective);
  out.close('}');
  out.key("last_check");
  if (!server.last_check.ran) {
    out.null();
  } else {
    out.open('{');
    out.key("ok");
    out.boolean(server.last_check.ok);
    out.key("status");
    if (server.last_check.status != 0) {
      out.signed_number(server.last_check.status);
    } else {
      out.null();
    }
    out.key("duration_ms");
    out.signed_number(server.last_check.duration_ms);
    out.key("reason");
    out.string(server.last_check.reason);
    out.key("at");
    out.time_or_null(server.last_check.at_ms);
    out.close('}');
  }
  out.key("connections");
  out.open('{');
  out.key("active");
  out.signed_number(server.active);
  out.key("idle");
  out.signed_number(server.traffic.idle);
  out.key("opened");
  out.number(server.traffic.connections);
  out.close('}');
  out.key("retries");
  out.number(server.traffic.retries);
  out.key("redispatches");
  out.number(server.traffic.redispatches);
  out.key("passive_failures");
  out.number(server.traffic.passive_failures);
  write_traffic(out, server.traffic, server.rates);
  out.close('}');
}

void write_backend(JsonOut& out, const BackendStats& backend) {
  out.open('{');
  out.key("name");
  out.string(backend.name);
  out.key("balance");
  out.string(backend.balance);
  out.key("mode");
  out.string(backend_mode_name(backend.mode));
  out.key("servers_usable");
  out.open('{');
  out.key("main");
  out.signed_number(backend.main_serving);
  out.key("backup");
  out.signed_number(backend.backup_serving);
  out.close('}');
  out.key("servers_configured");
  out.open('{');
  out.key("main");
  out.signed_number(backend.main_total);
  out.key("backup");
  out.signed_number(backend.backup_total);
  out.close('}');
  out.key("maintenance_responses");
  out.number(backend.traffic.outcomes[static_cast<std::size_t>(state::Outcome::Maintenance)]);
  out.key("retries");
  out.number(backend.traffic.retries);
  out.key("redispatches");
  out.number(backend.traffic.redispatches);
  write_traffic(out, backend.traffic, backend.rates);
  out.key("servers");
  out.open('[');
  for (const auto& server : backend.servers) write_server(out, server);
  out.close(']');
  out.close('}');
}

}  // namespace

std::string iso8601(std::int64_t epoch_ms) {
  const std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                     parts.tm_hour, parts.tm_min, parts.tm_sec, static_cast<int>(epoch_ms % 1000));
}

std::string render_stats_json(const Stats& stats) {
  JsonOut out;
  out.open('{');
  out.key("haven");
  out.open('{');
  out.key("version");
  out.string(stats.process.version);
  out.key("pid");
  out.signed_number(stats.process.pid);
  out.key("workers");
  out.signed_number(stats.process.workers);
  out.key("started_at");
  out.time_or_null(stats.process.started_ms);
  out.key("now");
  out.time_or_null(stats.process.now_ms);
  out.key("uptime_seconds");
  out.signed_number((stats.process.now_ms - stats.process.started_ms) / 1000);
  out.key("config");
  out.open('{');
  out.key("source");
  out.string(stats.process.config_source);
  out.key("reloads");
  out.open('{');
  out.key("succeeded");
  out.number(stats.process.reloads.succeeded);
  out.key("failed");
  out.number(stats.process.reloads.failed);
  out.key("last_success");
  out.time_or_null(stats.process.reloads.last_success_ms);
  out.key("last_failure");
  out.time_or_null(stats.process.reloads.last_failure_ms);
  out.key("last_error");
  if (stats.process.reloads.last_error.empty()) {
    out.null();
  } else {
    out.string(stats.process.reloads.last_error);
  }
  out.close('}');
  out.close('}');
  out.close('}');

  out.key("frontends");
  out.open('[');
  for (const auto& frontend : stats.frontends) {
    out.open('{');
    out.key("name");
    out.string(frontend.name);
    out.key("bind");
    out.string(frontend.bind);
    out.key("connections");
    out.open('{');
    out.key("active");
    out.signed_number(frontend.traffic.active);
    out.key("accepted");
    out.number(frontend.traffic.connections);
    out.key("refused_over_client_limit");
    out.number(frontend.traffic.refused_connections);
    out.close('}');
    write_traffic(out, frontend.traffic, frontend.rates);
    out.close('}');
  }
  out.close(']');

  out.key("backends");
  out.open('[');
  for (const auto& backend : stats.backends) write_backend(out, backend);
  out.close(']');
  out.close('}');
  out.text.push_back('\n');
  return std::move(out.text);
}

}  // namespace haven::admin

namespace haven::admin {

std::string render_backend_json(const BackendStats& backend) {
  JsonOut out;
  write_backend(out, backend);
  out.text.push_back('\n');
  return std::move(out.text);
}

std::string render_server_json(const ServerStats& server) {
  JsonOut out;
  write_server(out, server);
  out.text.push_back('\n');
  return std::move(out.text);
}

std::string render_backends_json(const Stats& stats) {
  JsonOut out;
  out.open('{');
  out.key("backends");
  out.open('[');
  for (const auto& backend : stats.backends) write_backend(out, backend);
  out.close(']');
  out.close('}');
  out.text.push_back('\n');
  return std::move(out.text);
}

}  // namespace haven::admin
