#include "haven/admin/render.hpp"

#include <optional>
#include <type_traits>

#include <fmt/format.h>

#include "haven/core/json_text.hpp"
#include "haven/core/wall_time.hpp"

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
  // One member: its key, then its value.
  void member_string(std::string_view name, std::string_view value) {
    key(name);
    string(value);
  }
  void member_count(std::string_view name, std::uint64_t value) {
    key(name);
    number(value);
  }
  void member_int(std::string_view name, std::int64_t value) {
    key(name);
    signed_number(value);
  }
  void member_real(std::string_view name, double value) {
    key(name);
    real(value);
  }
  void member_bool(std::string_view name, bool value) {
    key(name);
    boolean(value);
  }
  // The value, or null without one ("" for text).
  template <typename Number>
  void member_or_null(std::string_view name, const std::optional<Number>& value) {
    key(name);
    if (!value) {
      null();
    } else if constexpr (std::is_integral_v<Number>) {
      signed_number(static_cast<std::int64_t>(*value));
    } else {
      real(*value);
    }
  }
  void member_text_or_null(std::string_view name, std::string_view value) {
    key(name);
    if (value.empty()) {
      null();
    } else {
      string(value);
    }
  }
  void member_time(std::string_view name, std::int64_t epoch_ms) {
    key(name);
    time_or_null(epoch_ms);
  }
  void time_or_null(std::int64_t epoch_ms) {
    if (epoch_ms == 0) {
      null();
    } else {
      string(core::iso8601(epoch_ms));
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

// TLS handshakes by result.
void write_handshakes(JsonOut& out, const state::TrafficTotals& traffic) {
  out.key("handshakes");
  out.open('{');
  out.member_count("full", traffic.tls_full);
  out.member_count("resumed", traffic.tls_resumed);
  out.member_count("failed", traffic.tls_failures);
  out.member_count("timed_out", traffic.tls_timeouts);
  out.close('}');
}

void write_traffic(JsonOut& out, const state::TrafficTotals& traffic, const Rates& rates) {
  out.member_count("requests", traffic.requests);
  out.member_real("requests_per_second", rates.requests_per_second);
  out.key("responses");
  out.open('{');
  for (std::size_t i = 0; i < state::kStatusClasses; ++i) {
    out.member_count(kClassNames[i], traffic.responses[i]);
  }
  out.close('}');
  out.key("outcomes");
  out.open('{');
  for (const state::Outcome outcome : state::all_outcomes()) {
    out.member_count(state::outcome_name(outcome), traffic.outcomes[static_cast<std::size_t>(outcome)]);
  }
  out.close('}');
  out.member_count("bytes_in", traffic.bytes_in);
  out.member_count("bytes_out", traffic.bytes_out);
  out.key("response_time_ms");
  out.open('{');
  out.member_real("p50", traffic.response_time_quantile_ms(0.5));
  out.member_real("p99", traffic.response_time_quantile_ms(0.99));
  out.close('}');
  out.key("history");
  out.open('{');
  out.member_count("interval_seconds", static_cast<std::uint64_t>(History::kIntervalMs / 1000));
  out.key("requests");
  write_series(out, rates.requests);
  out.key("errors");
  write_series(out, rates.errors);
  out.close('}');
}

void write_server(JsonOut& out, const ServerStats& server) {
  out.open('{');
  out.member_string("name", server.name);
  out.member_string("address", server.address);
  if (!server.tls_name.empty()) {
    out.key("tls");
    out.open('{');
    out.member_string("name", server.tls_name);
    write_handshakes(out, server.traffic);
    out.close('}');
  }
  out.member_string("tier", server.backup ? "backup" : "main");
  out.member_text_or_null("group", server.group);
  out.member_bool("serving", server.serving);
  out.key("health");
  out.open('{');
  out.member_string("state", state::health_name(server.health));
  out.member_time("since", server.health_since_ms);
  out.member_bool("checked", server.checked);
  out.member_count("changes", server.health_changes);
  out.close('}');
  out.key("admin");
  out.open('{');
  out.member_string("state", state::admin_state_name(server.admin));
  out.member_time("since", server.admin_since_ms);
  out.close('}');
  out.key("weight");
  out.open('{');
  out.member_int("configured", server.weight_configured);
  out.member_or_null("runtime", server.weight_runtime);
  out.member_or_null("shift", server.weight_shift);
  out.member_int("effective", server.weight_effective);
  out.close('}');
  out.key("last_check");
  if (!server.last_check.ran) {
    out.null();
  } else {
    out.open('{');
    out.member_bool("ok", server.last_check.ok);
    out.key("status");
    if (server.last_check.status != 0) {
      out.signed_number(server.last_check.status);
    } else {
      out.null();
    }
    out.member_int("duration_ms", server.last_check.duration_ms);
    out.member_string("reason", server.last_check.reason);
    out.member_time("at", server.last_check.at_ms);
    out.close('}');
  }
  out.key("connections");
  out.open('{');
  out.member_int("active", server.active);
  out.member_int("idle", server.traffic.idle);
  out.member_count("opened", server.traffic.connections);
  out.close('}');
  out.member_count("retries", server.traffic.retries);
  out.member_count("redispatches", server.traffic.redispatches);
  out.member_count("passive_failures", server.traffic.passive_failures);
  write_traffic(out, server.traffic, server.rates);
  out.close('}');
}

void write_sample(JsonOut& out, std::string_view name, const state::WindowSample& sample) {
  out.key(name);
  out.open('{');
  out.member_count("requests", sample.requests);
  out.member_count("errors", sample.errors);
  out.member_real("error_rate", sample.error_rate());
  out.member_count("p99_ms", sample.p99_ms);
  out.close('}');
}

void write_shift(JsonOut& out, const ShiftView& shift) {
  const state::ShiftPlan& plan = shift.plan;
  out.open('{');
  out.member_string("from", plan.from);
  out.member_string("to", plan.to);
  out.member_string("state", state::shift_phase_name(shift.phase));
  out.member_int("share", shift.share);
  out.member_count("step", shift.step);
  out.key("steps");
  out.open('[');
  for (const int step : plan.steps) out.signed_number(step);
  out.close(']');
  out.member_count("hold_ms", plan.hold_ms);
  out.member_count("min_requests", plan.min_requests);
  out.member_real("max_error_rate", plan.max_error_rate);
  out.member_or_null("max_p99_ms", plan.max_p99_ms);
  out.member_or_null("max_error_rate_delta", plan.max_error_rate_delta);
  out.member_int("failure_limit", plan.failure_limit);
  out.member_int("failures", shift.failures);
  out.member_time("started", shift.started_ms);
  out.member_time("changed", shift.changed_ms);
  out.member_int("window_ends_in_ms", shift.window_ends_in_ms);
  out.key("verdicts");
  out.open('{');
  out.member_count("pass", shift.passes);
  out.member_count("hold", shift.holds);
  out.member_count("fail", shift.fails);
  out.close('}');
  out.key("windows");
  out.open('[');
  for (const auto& window : shift.windows) {
    out.open('{');
    out.member_time("at", window.at_ms);
    out.member_int("share", window.share);
    out.member_string("verdict", state::window_verdict_name(window.verdict));
    out.member_string("why", window.why);
    write_sample(out, "to", window.to);
    write_sample(out, "from", window.from);
    out.close('}');
  }
  out.close(']');
  out.close('}');
}

void write_backend(JsonOut& out, const BackendStats& backend) {
  out.open('{');
  out.member_string("name", backend.name);
  out.member_string("balance", backend.balance);
  out.member_string("mode", backend_mode_name(backend.mode));
  out.member_time("mode_since", backend.mode_since_ms);
  out.member_text_or_null("mode_reason", backend.mode_reason);
  out.key("groups");
  out.open('[');
  for (const auto& group : backend.groups) out.string(group);
  out.close(']');
  out.key("shift");
  if (backend.shift) {
    write_shift(out, *backend.shift);
  } else {
    out.null();
  }
  if (backend.stale) {
    out.key("stale");
    out.open('{');
    out.member_count("hits", backend.stale->hits);
    out.member_count("stores", backend.stale->stores);
    out.member_count("evictions", backend.stale->evictions);
    out.member_count("bytes", backend.stale->bytes);
    out.member_count("entries", backend.stale->entries);
    out.member_count("failing_urls", backend.stale->failing);
    out.close('}');
  }
  out.key("servers_usable");
  out.open('{');
  out.member_int("main", backend.main_serving);
  out.member_int("backup", backend.backup_serving);
  out.close('}');
  out.key("servers_configured");
  out.open('{');
  out.member_int("main", backend.main_total);
  out.member_int("backup", backend.backup_total);
  out.close('}');
  out.member_count("maintenance_responses", backend.traffic.outcomes[static_cast<std::size_t>(state::Outcome::Maintenance)]);
  out.member_count("retries", backend.traffic.retries);
  out.member_count("redispatches", backend.traffic.redispatches);
  write_traffic(out, backend.traffic, backend.rates);
  out.key("servers");
  out.open('[');
  for (const auto& server : backend.servers) write_server(out, server);
  out.close(']');
  out.close('}');
}

void write_backends(JsonOut& out, const Stats& stats) {
  out.key("backends");
  out.open('[');
  for (const auto& backend : stats.backends) write_backend(out, backend);
  out.close(']');
}

}  // namespace

std::string render_stats_json(const Stats& stats) {
  JsonOut out;
  out.open('{');
  out.key("haven");
  out.open('{');
  out.member_string("version", stats.process.version);
  out.member_int("pid", stats.process.pid);
  out.member_int("workers", stats.process.workers);
  out.member_time("started_at", stats.process.started_ms);
  out.member_time("now", stats.process.now_ms);
  out.member_int("uptime_seconds", (stats.process.now_ms - stats.process.started_ms) / 1000);
  out.key("config");
  out.open('{');
  out.member_string("source", stats.process.config_source);
  out.key("reloads");
  out.open('{');
  out.member_count("succeeded", stats.process.reloads.succeeded);
  out.member_count("failed", stats.process.reloads.failed);
  out.member_time("last_success", stats.process.reloads.last_success_ms);
  out.member_time("last_failure", stats.process.reloads.last_failure_ms);
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
    out.member_string("name", frontend.name);
    out.member_string("bind", frontend.bind);
    out.key("connections");
    out.open('{');
    out.member_int("active", frontend.traffic.active);
    out.member_count("accepted", frontend.traffic.connections);
    out.member_count("refused_over_client_limit", frontend.traffic.refused_connections);
    out.close('}');
    if (!frontend.certificates.empty()) {
      out.key("tls");
      out.open('{');
      write_handshakes(out, frontend.traffic);
      out.key("certificates");
      out.open('[');
      for (const auto& certificate : frontend.certificates) {
        out.open('{');
        out.member_string("file", certificate.file);
        out.member_string("subject", certificate.subject);
        out.key("names");
        out.open('[');
        for (const auto& name : certificate.names) out.string(name);
        out.close(']');
        out.member_time("not_after", certificate.not_after_ms);
        out.member_int("expires_in_s", (certificate.not_after_ms - stats.process.now_ms) / 1000);
        out.close('}');
      }
      out.close(']');
      out.close('}');
    }
    write_traffic(out, frontend.traffic, frontend.rates);
    out.close('}');
  }
  out.close(']');

  write_backends(out, stats);
  out.close('}');
  out.text.push_back('\n');
  return std::move(out.text);
}

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

std::string render_shift_json(const ShiftView& shift) {
  JsonOut out;
  write_shift(out, shift);
  out.text.push_back('\n');
  return std::move(out.text);
}

std::string render_backends_json(const Stats& stats) {
  JsonOut out;
  out.open('{');
  write_backends(out, stats);
  out.close('}');
  out.text.push_back('\n');
  return std::move(out.text);
}

std::string render_servers_json(const BackendStats& backend) {
  JsonOut out;
  out.open('{');
  out.key("servers");
  out.open('[');
  for (const auto& server : backend.servers) write_server(out, server);
  out.close(']');
  out.close('}');
  out.text.push_back('\n');
  return std::move(out.text);
}

}  // namespace haven::admin
