#include "haven/admin/admin_api.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "haven/admin/health.hpp"
#include "haven/admin/json_body.hpp"
#include "haven/admin/render.hpp"
#include "haven/admin/shift_request.hpp"
#include "haven/core/json_text.hpp"
#include "haven/state/server_runtime.hpp"

namespace haven::admin {

// static/stats.html, compiled in (generated at build time).
std::string_view bundled_stats_page();

namespace {

constexpr std::string_view kApiPrefix = "/api/v1/backends";
constexpr std::size_t kMaxEventFrom = 32;
constexpr std::size_t kMaxEventMessage = 1024;
constexpr int kMaxNotesPerSecond = 20;

// Valid UTF-8 that cannot forge a second line or steer a terminal or a reader: no C0 or C1 control
// characters, no line or paragraph separators, no bidirectional overrides.
bool is_plain_text(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    std::uint32_t code = 0;
    std::size_t length = 0;
    if (byte < 0x80) {
      code = byte;
      length = 1;
    } else if ((byte & 0xe0) == 0xc0) {
      code = byte & 0x1fU;
      length = 2;
    } else if ((byte & 0xf0) == 0xe0) {
      code = byte & 0x0fU;
      length = 3;
    } else if ((byte & 0xf8) == 0xf0) {
      code = byte & 0x07U;
      length = 4;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3fU);
    }
    // Overlong forms, surrogates and values past Unicode are not UTF-8.
    static constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kSmallest[length] || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return false;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code == 0x2028 || code == 0x2029 ||
        (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069)) {
      return false;
    }
    i += length;
  }
  return true;
}

bool is_write(http::Method method) { return method == http::Method::Post || method == http::Method::Patch; }
bool is_read(http::Method method) { return method == http::Method::Get || method == http::Method::Head; }

// Compares without leaking, through timing, how much of a guess was right.
bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char difference = a.size() == b.size() ? 0 : 1;
  const std::size_t length = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < length; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    difference |= static_cast<unsigned char>(x ^ y);
  }
  return difference == 0;
}

// "/api/v1/backends/api/servers/a" -> {"api", "a"}; segments must be non-empty and have no '/'.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    const std::size_t slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

const BackendStats* find_backend(const Stats& stats, std::string_view name) {
  for (const auto& backend : stats.backends) {
    if (backend.name == name) return &backend;
  }
  return nullptr;
}

const upstream::Server* find_server(const Inventory& inventory, std::string_view backend, std::string_view server) {
  for (const upstream::Backend* b : inventory.backends) {
    if (b->config.name != backend) continue;
    for (const auto& s : b->servers) {
      if (s->config.name == server) return s.get();
    }
  }
  return nullptr;
}

AdminResponse json_ok(std::string body) { return {200, "application/json", std::move(body), {}}; }

}  // namespace

AdminResponse json_error(int status, std::string_view message) {
  std::string body = "{\"error\":";
  core::append_json_string(body, message);
  body += fmt::format(",\"status\":{}}}\n", status);
  return {status, "application/json", std::move(body), {}};
}

AdminApi::AdminApi(const config::Admin& settings, Operator& process, log::EventLog& events)
    : settings_(settings), process_(process), events_(events) {}

bool AdminApi::token_matches(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() < kBearer.size()) return false;
  std::string scheme(authorization.substr(0, kBearer.size()));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer ") return false;
  return constant_time_equal(authorization.substr(kBearer.size()), settings_.token);
}

// Without a token only the local machine may use the admin listener, and then only under a local
// name: a web page on another site that resolves its own name to 127.0.0.1 (DNS rebinding) sends
// that name as Host and is refused.
bool AdminApi::host_is_local(std::string_view host) const {
  std::string_view name = host;
  if (name.starts_with("[")) {
    const std::size_t close = name.find(']');
    if (close == std::string_view::npos) return false;
    name = name.substr(1, close - 1);
  } else if (const std::size_t colon = name.rfind(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  if (name == "localhost" || name == "::1") return true;
  // 127.0.0.0/8 as a dotted-quad literal only: "127.0.0.1.attacker.example" is a name.
  int parts = 0;
  std::size_t digits = 0;
  for (const char c : name) {
    if (c == '.') {
      if (digits == 0 || digits > 3) return false;
      ++parts;
      digits = 0;
    } else if (c >= '0' && c <= '9') {
      ++digits;
    } else {
      return false;
    }
  }
  return parts == 3 && digits > 0 && digits <= 3 && name.starts_with("127.");
}

AdminResponse AdminApi::handle(const AdminRequest& request) {
  // CSRF: a browser sends Origin with every write and with cross-site reads; only the admin's own
  // origin (the page it serves) may act.
  if (!request.origin.empty() && request.origin != "http://" + request.host) {
    return json_error(403, "requests from another origin are refused");
  }
  if (request.fetch_site == "cross-site") return json_error(403, "cross-site requests are refused");
  // A listener on loopback is only ever reached under a local name; another name is a web page
  // whose name now resolves to 127.0.0.1 (DNS rebinding), token or not.
  if ((settings_.token.empty() || settings_.loopback_only()) && !host_is_local(request.host)) {
    return json_error(403, "the admin listener only answers requests to localhost, 127.0.0.1 or [::1]");
  }
  std::string_view path = request.target;
  if (const std::size_t query = path.find('?'); query != std::string_view::npos) path = path.substr(0, query);
  // The page holds no data (it reads stats.json, with the token typed into it): anyone who may
  // reach the listener may load it.
  if (path == "/" && is_read(request.method)) {
    return {200, "text/html; charset=utf-8", std::string(bundled_stats_page()), {}};
  }
  // Health, for whatever moves a floating address or balances over several havens: healthy or not,
  // why, and the frontends' public ports (no server, no counter), so it needs no token, as a load
  // balancer sends none. 503 when not healthy.
  if (path == "/health" && is_read(request.method)) {
    const HealthReport report = health_report(process_.inventory(), settings_.healthy_needs_serving);
    return {report.healthy ? 200 : 503, "application/json", render_health_json(report), {}};
  }
  const bool authorized = !settings_.token.empty() && token_matches(request.authorization);
  if (!settings_.token.empty() && !authorized &&
      (is_write(request.method) || settings_.read_token_required || !request.authorization.empty())) {
    AdminResponse denied = json_error(401, request.authorization.empty() ? "this request needs the admin token"
                                                                         : "the admin token is wrong");
    return denied;
  }
  // A note changes nothing a new process would need: keepalived's lines around a takeover are
  // kept even while an upgrade hands the state over.
  if (is_write(request.method) && path != "/api/v1/events") {
    if (std::string why = process_.writes_refused(); !why.empty()) return json_error(503, why);
  }
  return route(request, path);
}

AdminResponse AdminApi::route(const AdminRequest& request, std::string_view path) {
  const auto only = [&](bool allowed, std::string_view allow) -> std::optional<AdminResponse> {
    if (allowed) return std::nullopt;
    AdminResponse response = json_error(405, fmt::format("{} is not allowed here", http::method_name(request.method)));
    response.allow = allow;
    return response;
  };
  const Inventory inventory = process_.inventory();
  if (path == "/stats.json") {
    if (auto refused = only(is_read(request.method), "GET, HEAD")) return *refused;
    return json_ok(render_stats_json(collect_stats(inventory, process_.history(), process_.process())));
  }
  if (path == "/metrics") {
    if (auto refused = only(is_read(request.method), "GET, HEAD")) return *refused;
    return {200, "text/plain; version=0.0.4; charset=utf-8",
            render_prometheus(collect_stats(inventory, process_.history(), process_.process())),
            {}};
  }
  if (path == "/api/v1/events") {
    if (request.method == http::Method::Post) return post_event(request);
    if (auto refused = only(is_read(request.method), "GET, HEAD, POST")) return *refused;
    // ?after=SEQ: only later events (haven ctl events --follow asks again with the last seq).
    std::uint64_t after = 0;
    const std::string_view target = request.target;
    if (const std::size_t at = target.find("after="); at != std::string_view::npos) {
      const std::string_view digits = target.substr(at + 6);
      std::from_chars(digits.data(), digits.data() + digits.size(), after);
    }
    const auto events = events_.since(after, 500);
    std::string body = "{\"events\":[";
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (i != 0) body.push_back(',');
      body += fmt::format("{{\"seq\":{},\"time\":", events[i].seq);
      core::append_json_string(body, events[i].time);
      body += ",\"kind\":";
      core::append_json_string(body, events[i].kind);
      body += ",\"message\":";
      core::append_json_string(body, events[i].message);
      body.push_back('}');
    }
    body += fmt::format("],\"next_after\":{}}}\n", events.empty() ? after : events.back().seq);
    return json_ok(std::move(body));
  }
  if (path == "/api/v1/reload") {
    if (auto refused = only(request.method == http::Method::Post, "POST")) return *refused;
    const ReloadResult result = process_.reload("admin API");
    std::string body = result.ok ? "{\"result\":\"success\",\"message\":" : "{\"result\":\"failure\",\"error\":";
    core::append_json_string(body, result.message);
    body += "}\n";
    return {result.ok ? 200 : 422, "application/json", std::move(body), {}};
  }
  if (path == kApiPrefix || path.starts_with(std::string(kApiPrefix) + "/")) {
    const auto parts = split_path(path.substr(kApiPrefix.size() + (path.size() > kApiPrefix.size() ? 1 : 0)));
    if (path == kApiPrefix) {
      if (auto refused = only(is_read(request.method), "GET, HEAD")) return *refused;
      return json_ok(render_backends_json(collect_stats(inventory, process_.history(), process_.process())));
    }
    const Stats stats = collect_stats(inventory, process_.history(), process_.process());
    const BackendStats* backend = parts.empty() ? nullptr : find_backend(stats, parts[0]);
    if (backend == nullptr) return json_error(404, fmt::format("no backend \"{}\"", parts.empty() ? "" : parts[0]));
    if (parts.size() == 1) {
      if (auto refused = only(is_read(request.method), "GET, HEAD")) return *refused;
      return json_ok(render_backend_json(*backend));
    }
    if ((parts.size() == 2 || parts.size() == 3) && parts[1] == "shift") {
      return shift(request, *backend, parts.size() == 3 ? parts[2] : std::string_view());
    }
    if (parts.size() == 2 && parts[1] == "servers") {
      if (auto refused = only(is_read(request.method), "GET, HEAD")) return *refused;
      return json_ok(render_servers_json(*backend));
    }
    if (parts.size() == 3 && parts[1] == "servers") {
      const ServerStats* server = nullptr;
      for (const auto& s : backend->servers) {
        if (s.name == parts[2]) server = &s;
      }
      if (server == nullptr) {
        return json_error(404, fmt::format("no server \"{}\" in backend \"{}\"", parts[2], parts[0]));
      }
      if (request.method == http::Method::Patch) return patch_server(request, parts[0], parts[2]);
      if (auto refused = only(is_read(request.method), "GET, HEAD, PATCH")) return *refused;
      return json_ok(render_server_json(*server));
    }
  }
  return json_error(404, fmt::format("nothing at {}", path));
}

// POST /api/v1/events: a line from outside haven (keepalived's notify hooks, a deploy script) in
// haven's own event log, so one timeline tells what happened around a takeover. The kind is always
// "note" (a hook cannot pass for haven's own events); "from" names the writer.
AdminResponse AdminApi::post_event(const AdminRequest& request) {
  const JsonObject body = parse_json_object(request.body);
  if (!body.error.empty()) return json_error(400, fmt::format("invalid JSON body: {}", body.error));
  std::string from;
  std::string message;
  for (const auto& [key, value] : body.members) {
    if (key != "from" && key != "message") {
      return json_error(400, fmt::format("unknown member \"{}\" (expected \"from\" and \"message\")", key));
    }
    if (value.kind != JsonValue::Kind::String) return json_error(400, fmt::format("\"{}\" must be a string", key));
    (key == "from" ? from : message) = value.text;
  }
  const auto name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  };
  if (from.empty() || from.size() > kMaxEventFrom || !std::all_of(from.begin(), from.end(), name_char)) {
    return json_error(400, fmt::format("\"from\" must be 1 to {} letters, digits, '-', '_' or '.'", kMaxEventFrom));
  }
  if (message.empty() || message.size() > kMaxEventMessage || !is_plain_text(message)) {
    return json_error(400, fmt::format("\"message\" must be 1 to {} bytes of printable UTF-8 text", kMaxEventMessage));
  }
  const std::int64_t second = state::wall_clock_ms() / 1000;
  if (second != notes_second_) {
    notes_second_ = second;
    notes_in_second_ = 0;
  }
  if (++notes_in_second_ > kMaxNotesPerSecond) {
    return json_error(429, fmt::format("more than {} notes in one second", kMaxNotesPerSecond));
  }
  events_.write("note", fmt::format("{}: {}", from, message), {{"from", from}});
  return {201, "application/json", "{\"result\":\"written\"}\n", {}};
}

// GET .../shift: the shift (404 without one); POST .../shift with a plan: start one; POST
// .../shift/pause, /resume, /abort.
AdminResponse AdminApi::shift(const AdminRequest& request, const BackendStats& backend, std::string_view action) {
  const auto render = [&](int status) {
    const Inventory inventory = process_.inventory();
    const Stats stats = collect_stats(inventory, process_.history(), process_.process());
    const BackendStats* now = find_backend(stats, backend.name);
    if (now == nullptr || !now->shift) return json_error(404, fmt::format("backend {} has no shift", backend.name));
    AdminResponse response = json_ok(render_shift_json(*now->shift));
    response.status = status;
    return response;
  };
  if (action.empty() && is_read(request.method)) return render(200);
  if (request.method != http::Method::Post) {
    AdminResponse response = json_error(405, "use GET, or POST to start one or to pause, resume or abort it");
    response.allow = action.empty() ? "GET, HEAD, POST" : "POST";
    return response;
  }
  const std::string who = "admin API";
  std::string error;
  if (action.empty()) {
    const JsonObject body = parse_json_object(request.body);
    if (!body.error.empty()) return json_error(400, fmt::format("invalid JSON body: {}", body.error));
    state::ShiftPlan plan;
    if (error = parse_shift_plan(body, plan); !error.empty()) return json_error(400, error);
    error = process_.start_shift(backend.name, std::move(plan), who);
    if (!error.empty()) return json_error(409, error);
    return render(201);
  }
  if (action != "pause" && action != "resume" && action != "abort" && action != "clear") {
    return json_error(404, fmt::format("no shift command \"{}\" (pause, resume, abort or clear)", action));
  }
  if (action == "clear") {
    error = process_.shift_command(backend.name, action, who);
    if (!error.empty()) return json_error(409, error);
    return json_ok("{\"result\":\"cleared\"}\n");
  }
  error = process_.shift_command(backend.name, action, who);
  if (!error.empty()) return json_error(409, error);
  return render(200);
}

AdminResponse AdminApi::patch_server(const AdminRequest& request, std::string_view backend_name,
                                     std::string_view server_name) {
  const JsonObject body = parse_json_object(request.body);
  if (!body.error.empty()) return json_error(400, fmt::format("invalid JSON body: {}", body.error));
  std::optional<state::AdminState> new_state;
  std::optional<std::optional<int>> new_weight;  // outer: given; inner: nullopt = back to the configured weight
  for (const auto& [key, value] : body.members) {
    if (key == "state") {
      if (value.kind != JsonValue::Kind::String) return json_error(400, "\"state\" must be \"ready\", \"drain\" or \"maint\"");
      new_state = state::parse_admin_state(value.text);
      if (!new_state) return json_error(400, "\"state\" must be \"ready\", \"drain\" or \"maint\"");
    } else if (key == "weight") {
      if (value.kind == JsonValue::Kind::Null) {
        new_weight = std::optional<int>{};
      } else if (value.kind != JsonValue::Kind::Integer || value.integer < 0 || value.integer > 256) {
        return json_error(400, "\"weight\" must be a whole number from 0 to 256, or null for the configured weight");
      } else {
        new_weight = std::optional<int>{static_cast<int>(value.integer)};
      }
    } else {
      return json_error(400, fmt::format("unknown member \"{}\" (expected \"state\" and/or \"weight\")", key));
    }
  }
  if (!new_state && !new_weight) return json_error(400, "nothing to change: give \"state\" and/or \"weight\"");

  const Inventory inventory = process_.inventory();
  const upstream::Server* server = find_server(inventory, backend_name, server_name);
  if (server == nullptr) return json_error(404, "the server is gone (a reload removed it)");
  state::ServerRuntime& runtime = server->runtime;
  const std::string who = "admin API";
  if (new_state) {
    const state::AdminState before = runtime.admin_state();
    if (runtime.set_admin_state(*new_state)) {
      // Leaving maintenance, a checked server is not trusted until a check passes again: its
      // health is as old as the maintenance.
      if (before == state::AdminState::Maint && runtime.check) runtime.set_health(state::Health::Checking);
      events_.write("server_admin", fmt::format("server {} set to {} by {} (was {})", runtime.id,
                                                state::admin_state_name(*new_state), who,
                                                state::admin_state_name(before)),
                    {{"server", runtime.id},
                     {"state", std::string(state::admin_state_name(*new_state))},
                     {"previous", std::string(state::admin_state_name(before))},
                     {"source", who}});
    }
  }
  if (new_weight) {
    const int before = server->weight();
    runtime.set_runtime_weight(*new_weight);
    if (server->weight() != before || new_weight->has_value() != runtime.runtime_weight().has_value()) {
      events_.write("server_weight",
                    fmt::format("server {} weight set to {}{} by {} (was {})", runtime.id, server->weight(),
                                new_weight->has_value() ? "" : " (the configured weight)", who, before),
                    {{"server", runtime.id}, {"weight", static_cast<long>(server->weight())}, {"source", who}});
    }
  }
  process_.server_admin_changed();
  const Stats stats = collect_stats(inventory, process_.history(), process_.process());
  for (const auto& backend : stats.backends) {
    if (backend.name != backend_name) continue;
    for (const auto& s : backend.servers) {
      if (s.name == server_name) return json_ok(render_server_json(s));
    }
  }
  return json_error(404, "the server is gone (a reload removed it)");
}

}  // namespace haven::admin
