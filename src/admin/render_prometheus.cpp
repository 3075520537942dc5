#include <fmt/format.h>

#include "haven/admin/render.hpp"

namespace haven::admin {

namespace {

constexpr std::array<const char*, state::kStatusClasses> kClassLabels{"1xx", "2xx", "3xx", "4xx", "5xx", "other"};

// Label values here are names from the config (a restricted alphabet) and fixed words, but they
// are escaped as the format asks all the same.
std::string label_value(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

class MetricsOut {
 public:
  std::string text;
  // Starts a metric family: HELP and TYPE once, before its samples.
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(text), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    if (labels.empty()) {
      fmt::format_to(std::back_inserter(text), "{} {}\n", name, value);
    } else {
      fmt::format_to(std::back_inserter(text), "{}{{{}}} {}\n", name, labels, value);
    }
  }
};

std::string labels(std::initializer_list<std::pair<std::string_view, std::string_view>> pairs) {
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (!out.empty()) out.push_back(',');
    fmt::format_to(std::back_inserter(out), "{}=\"{}\"", key, label_value(value));
  }
  return out;
}

// One histogram (buckets in seconds, cumulative, +Inf, sum, count) under `base_labels`.
void histogram(MetricsOut& out, std::string_view name, const std::string& base_labels,
               const state::TrafficTotals& traffic) {
  std::uint64_t cumulative = 0;
  const std::string prefix = base_labels.empty() ? "" : base_labels + ",";
  for (std::size_t i = 0; i < state::kResponseTimeBoundsMs.size(); ++i) {
    cumulative += traffic.response_time[i];
    const std::string le = fmt::format("{}", static_cast<double>(state::kResponseTimeBoundsMs[i]) / 1000.0);
    out.sample(fmt::format("{}_bucket", name), prefix + "le=\"" + le + "\"", static_cast<double>(cumulative));
  }
  cumulative += traffic.response_time.back();
  out.sample(fmt::format("{}_bucket", name), prefix + "le=\"+Inf\"", static_cast<double>(cumulative));
  out.sample(fmt::format("{}_sum", name), base_labels, static_cast<double>(traffic.response_time_sum_ms) / 1000.0);
  out.sample(fmt::format("{}_count", name), base_labels, static_cast<double>(cumulative));
}

// The state a server is in for an operator: its admin state when not READY, else its health.
std::string_view effective_state(const ServerStats& server) {
  if (server.admin != state::AdminState::Ready) return state::admin_state_name(server.admin);
  return state::health_name(server.health);
}

}  // namespace

std::string render_prometheus(const Stats& stats) {
  MetricsOut out;
  const double now_seconds = static_cast<double>(stats.process.now_ms) / 1000.0;

  out.family("haven_process_start_time_seconds", "gauge", "Start time of the haven process since the epoch.");
  out.sample("haven_process_start_time_seconds", "", static_cast<double>(stats.process.started_ms) / 1000.0);
  out.family("haven_config_reloads_total", "counter", "Configuration reloads by result.");
  out.sample("haven_config_reloads_total", labels({{"result", "success"}}),
             static_cast<double>(stats.process.reloads.succeeded));
  out.sample("haven_config_reloads_total", labels({{"result", "failure"}}),
             static_cast<double>(stats.process.reloads.failed));
  out.family("haven_config_last_reload_success_timestamp_seconds", "gauge",
             "When the configuration in force was loaded (start-up or the last successful reload).");
  out.sample("haven_config_last_reload_success_timestamp_seconds", "",
             static_cast<double>(stats.process.reloads.last_success_ms) / 1000.0);
  out.family("haven_config_last_reload_successful", "gauge", "1 unless the last reload was refused.");
  out.sample("haven_config_last_reload_successful", "", stats.process.reloads.last_error.empty() ? 1 : 0);

  out.family("haven_frontend_connections_total", "counter", "Client connections accepted.");
  for (const auto& f : stats.frontends) {
    out.sample("haven_frontend_connections_total", labels({{"frontend", f.name}}),
               static_cast<double>(f.traffic.connections));
  }
  out.family("haven_frontend_current_connections", "gauge", "Open client connections.");
  for (const auto& f : stats.frontends) {
    out.sample("haven_frontend_current_connections", labels({{"frontend", f.name}}),
               static_cast<double>(f.traffic.active));
  }
  out.family("haven_frontend_refused_connections_total", "counter",
             "Connections answered 429 for going over max_connections_per_client.");
  for (const auto& f : stats.frontends) {
    out.sample("haven_frontend_refused_connections_total", labels({{"frontend", f.name}}),
               static_cast<double>(f.traffic.refused_connections));
  }
  out.family("haven_frontend_tls_handshakes_total", "counter",
             "TLS handshakes with clients, by result (full, resumed, failed, timeout).");
  for (const auto& f : stats.frontends) {
    if (f.certificates.empty()) continue;
    const std::pair<std::string_view, std::uint64_t> results[] = {
        {"full", f.traffic.tls_full}, {"resumed", f.traffic.tls_resumed},
        {"failed", f.traffic.tls_failures}, {"timeout", f.traffic.tls_timeouts}};
    for (const auto& [result, count] : results) {
      out.sample("haven_frontend_tls_handshakes_total", labels({{"frontend", f.name}, {"result", result}}),
                 static_cast<double>(count));
    }
  }
  out.family("haven_tls_certificate_expiry_seconds", "gauge",
             "When the certificate expires, in seconds since the Unix epoch (alert on it minus time()).");
  for (const auto& f : stats.frontends) {
    for (const auto& certificate : f.certificates) {
      out.sample("haven_tls_certificate_expiry_seconds",
                 labels({{"frontend", f.name}, {"file", certificate.file}, {"subject", certificate.subject}}),
                 static_cast<double>(certificate.not_after_ms / 1000));
    }
  }
  out.family("haven_frontend_http_responses_total", "counter", "Responses by status class (other: none sent).");
  for (const auto& f : stats.frontends) {
    for (std::size_t c = 0; c < state::kStatusClasses; ++c) {
      out.sample("haven_frontend_http_responses_total", labels({{"frontend", f.name}, {"code_class", kClassLabels[c]}}),
                 static_cast<double>(f.traffic.responses[c]));
    }
  }
  out.family("haven_frontend_exchanges_total", "counter", "Exchanges by how they ended.");
  for (const auto& f : stats.frontends) {
    for (const state::Outcome outcome : state::all_outcomes()) {
      out.sample("haven_frontend_exchanges_total",
                 labels({{"frontend", f.name}, {"outcome", state::outcome_name(outcome)}}),
                 static_cast<double>(f.traffic.outcomes[static_cast<std::size_t>(outcome)]));
    }
  }
  out.family("haven_frontend_bytes_in_total", "counter", "Bytes received from clients.");
  for (const auto& f : stats.frontends) {
    out.sample("haven_frontend_bytes_in_total", labels({{"frontend", f.name}}), static_cast<double>(f.traffic.bytes_in));
  }
  out.family("haven_frontend_bytes_out_total", "counter", "Bytes sent to clients.");
  for (const auto& f : stats.frontends) {
    out.sample("haven_frontend_bytes_out_total", labels({{"frontend", f.name}}), static_cast<double>(f.traffic.bytes_out));
  }

  out.family("haven_backend_mode", "gauge", "How the backend is routed now: one series per mode, 1 for the one in force.");
  for (const auto& b : stats.backends) {
    for (const BackendMode mode :
         {BackendMode::Primary, BackendMode::Backup, BackendMode::Maintenance, BackendMode::Stale}) {
      out.sample("haven_backend_mode", labels({{"backend", b.name}, {"mode", backend_mode_name(mode)}}),
                 b.mode == mode ? 1 : 0);
    }
  }
  // Last-good copies (backends with stale_if_error).
  const auto stale_family = [&](const char* name, const char* type, const char* help, auto value) {
    out.family(name, type, help);
    for (const auto& b : stats.backends) {
      if (b.stale) out.sample(name, labels({{"backend", b.name}}), static_cast<double>(value(*b.stale)));
    }
  };
  stale_family("haven_backend_stale_hits_total", "counter", "Requests answered with a last-good copy.",
               [](const state::StaleCounters& c) { return c.hits; });
  stale_family("haven_backend_stale_stores_total", "counter", "Answers kept as last-good copies.",
               [](const state::StaleCounters& c) { return c.stores; });
  stale_family("haven_backend_stale_evictions_total", "counter", "Copies dropped to stay within max_total.",
               [](const state::StaleCounters& c) { return c.evictions; });
  stale_family("haven_backend_stale_bytes", "gauge", "Bytes held by last-good copies.",
               [](const state::StaleCounters& c) { return c.bytes; });
  stale_family("haven_backend_stale_entries", "gauge", "URLs with a last-good copy.",
               [](const state::StaleCounters& c) { return c.entries; });
  // Traffic shifts.
  out.family("haven_shift_share_percent", "gauge", "The new group's share of a backend's traffic shift, in percent.");
  for (const auto& b : stats.backends) {
    if (b.shift) {
      out.sample("haven_shift_share_percent",
                 labels({{"backend", b.name}, {"from", b.shift->plan.from}, {"to", b.shift->plan.to}}), b.shift->share);
    }
  }
  out.family("haven_shift_state", "gauge", "A backend's traffic shift: 1 for the state it is in.");
  for (const auto& b : stats.backends) {
    if (!b.shift) continue;
    for (const auto phase : {state::ShiftPhase::Running, state::ShiftPhase::Paused, state::ShiftPhase::Completed,
                             state::ShiftPhase::RolledBack, state::ShiftPhase::Aborted}) {
      out.sample("haven_shift_state", labels({{"backend", b.name}, {"state", state::shift_phase_name(phase)}}),
                 b.shift->phase == phase ? 1 : 0);
    }
  }
  out.family("haven_shift_windows_total", "counter", "Judged windows of a backend's traffic shift, by verdict.");
  for (const auto& b : stats.backends) {
    if (!b.shift) continue;
    out.sample("haven_shift_windows_total", labels({{"backend", b.name}, {"verdict", "pass"}}),
               static_cast<double>(b.shift->passes));
    out.sample("haven_shift_windows_total", labels({{"backend", b.name}, {"verdict", "hold"}}),
               static_cast<double>(b.shift->holds));
    out.sample("haven_shift_windows_total", labels({{"backend", b.name}, {"verdict", "fail"}}),
               static_cast<double>(b.shift->fails));
  }
  out.family("haven_backend_active_servers", "gauge", "Main servers taking new requests.");
  for (const auto& b : stats.backends) {
    out.sample("haven_backend_active_servers", labels({{"backend", b.name}}), b.main_serving);
  }
  out.family("haven_backend_backup_servers", "gauge", "Backup servers that could take requests.");
  for (const auto& b : stats.backends) {
    out.sample("haven_backend_backup_servers", labels({{"backend", b.name}}), b.backup_serving);
  }
  out.family("haven_backend_http_responses_total", "counter", "Responses by status class (other: none sent).");
  for (const auto& b : stats.backends) {
    for (std::size_t c = 0; c < state::kStatusClasses; ++c) {
      out.sample("haven_backend_http_responses_total", labels({{"backend", b.name}, {"code_class", kClassLabels[c]}}),
                 static_cast<double>(b.traffic.responses[c]));
    }
  }
  out.family("haven_maintenance_responses_total", "counter", "Maintenance answers (page or JSON 503).");
  for (const auto& b : stats.backends) {
    out.sample("haven_maintenance_responses_total", labels({{"backend", b.name}}),
               static_cast<double>(b.traffic.outcomes[static_cast<std::size_t>(state::Outcome::Maintenance)]));
  }
  out.family("haven_retries_total", "counter", "Attempts that failed and were tried again.");
  for (const auto& b : stats.backends) {
    out.sample("haven_retries_total", labels({{"backend", b.name}}), static_cast<double>(b.traffic.retries));
  }
  out.family("haven_redispatches_total", "counter", "Retries that went to another server.");
  for (const auto& b : stats.backends) {
    out.sample("haven_redispatches_total", labels({{"backend", b.name}}), static_cast<double>(b.traffic.redispatches));
  }
  out.family("haven_backend_http_response_duration_seconds", "histogram",
             "Time from the start of a request to the end of its response.");
  for (const auto& b : stats.backends) {
    histogram(out, "haven_backend_http_response_duration_seconds", labels({{"backend", b.name}}), b.traffic);
  }

  out.family("haven_server_status", "gauge",
             "One series per state (UP, DOWN, CHECKING, DRAIN, MAINT), 1 for the state the server is in.");
  for (const auto& b : stats.backends) {
    for (const auto& s : b.servers) {
      for (const std::string_view name : {"UP", "DOWN", "CHECKING", "DRAIN", "MAINT"}) {
        out.sample("haven_server_status", labels({{"backend", b.name}, {"server", s.name}, {"state", name}}),
                   effective_state(s) == name ? 1 : 0);
      }
    }
  }
  out.family("haven_server_weight", "gauge", "Weight the balancer uses now.");
  for (const auto& b : stats.backends) {
    for (const auto& s : b.servers) {
      out.sample("haven_server_weight", labels({{"backend", b.name}, {"server", s.name}}), s.weight_effective);
    }
  }
  out.family("haven_server_check_duration_seconds", "gauge", "Duration of the last health check.");
  for (const auto& b : stats.backends) {
    for (const auto& s : b.servers) {
      if (!s.last_check.ran) continue;
      out.sample("haven_server_check_duration_seconds", labels({{"backend", b.name}, {"server", s.name}}),
                 static_cast<double>(s.last_check.duration_ms) / 1000.0);
    }
  }
  out.family("haven_server_check_up_down_total", "counter", "UP/DOWN transitions.");
  for (const auto& b : stats.backends) {
    for (const auto& s : b.servers) {
      out.sample("haven_server_check_up_down_total", labels({{"backend", b.name}, {"server", s.name}}),
                 static_cast<double>(s.health_changes));
    }
  }
  out.family("haven_server_last_change_seconds", "gauge", "Seconds since the server's health last changed.");
  for (const auto& b : stats.backends) {
    for (const auto& s : b.servers) {
      out.sample("haven_server_last_change_seconds", labels({{"backend", b.name}, {"server", s.name}}),
                 std::max(0.0, now_seconds - static_cast<double>(s.health_since_ms) / 1000.0));
    }
  }
  out.family("haven_server_current_requests", "gauge", "Requests in flight on the server.");
  for (const auto& b : stats.backends) {
    for (const auto& s : b.servers) {
      out.sample("haven_server_current_requests", labels({{"backend", b.name}, {"server", s.name}}), s.active);
    }
  }
  out.family("haven_server_idle_connections", "gauge", "Idle keep-alive connections pooled for the server.");
  for (const auto& b : stats.backends) {
    for (const auto& s : b.servers) {
      out.sample("haven_server_idle_connections", labels({{"backend", b.name}, {"server", s.name}}),
                 static_cast<double>(s.traffic.idle));
    }
  }
  out.family("haven_server_tls_handshakes_total", "counter",
             "TLS handshakes with the server, by result (full, resumed, failed).");
  for (const auto& b : stats.backends) {
    for (const auto& s : b.servers) {
      if (s.tls_name.empty()) continue;
      const std::pair<std::string_view, std::uint64_t> results[] = {
          {"full", s.traffic.tls_full}, {"resumed", s.traffic.tls_resumed}, {"failed", s.traffic.tls_failures}};
      for (const auto& [result, count] : results) {
        out.sample("haven_server_tls_handshakes_total",
                   labels({{"backend", b.name}, {"server", s.name}, {"result", result}}), static_cast<double>(count));
      }
    }
  }
  out.family("haven_http_responses_total", "counter", "Responses from the server, by status class.");
  for (const auto& b : stats.backends) {
    for (const auto& s : b.servers) {
      for (std::size_t c = 0; c < state::kStatusClasses; ++c) {
        out.sample("haven_http_responses_total",
                   labels({{"backend", b.name}, {"server", s.name}, {"code_class", kClassLabels[c]}}),
                   static_cast<double>(s.traffic.responses[c]));
      }
    }
  }
  out.family("haven_server_passive_failures_total", "counter", "Attempts that failed to reach the server or get an answer.");
  for (const auto& b : stats.backends) {
    for (const auto& s : b.servers) {
      out.sample("haven_server_passive_failures_total", labels({{"backend", b.name}, {"server", s.name}}),
                 static_cast<double>(s.traffic.passive_failures));
    }
  }
  out.family("haven_http_response_duration_seconds", "histogram",
             "Time from the start of a request to the end of its response, per server.");
  for (const auto& b : stats.backends) {
    for (const auto& s : b.servers) {
      histogram(out, "haven_http_response_duration_seconds", labels({{"backend", b.name}, {"server", s.name}}),
                s.traffic);
    }
  }
  return std::move(out.text);
}

}  // namespace haven::admin
