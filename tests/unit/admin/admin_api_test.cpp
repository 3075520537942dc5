// The admin API's rules without sockets: who may read and write, and what a write changes.
#include "haven/admin/admin_api.hpp"

#include <doctest/doctest.h>

#include <memory>

#include "haven/admin/shift_request.hpp"
#include "haven/log/output.hpp"
#include "haven/state/registry.hpp"

namespace config = haven::config;
using haven::admin::AdminApi;
using haven::admin::AdminRequest;
using haven::http::Method;

namespace {

class FakeOperator final : public haven::admin::Operator {
 public:
  FakeOperator() : registry_(1) {
    config_.source = "test.toml";
    config::Frontend web;
    web.name = "web";
    web.bind.host = "127.0.0.1";
    config_.frontends.push_back(web);
    config::Backend api;
    api.name = "api";
    api.check = config::Check{};
    config::Server a;
    a.name = "a";
    a.address = {"127.0.0.1", 8001, false, "127.0.0.1:8001"};
    a.weight = 3;
    api.servers.push_back(a);
    config_.backends.push_back(api);
    binding_ = registry_.bind(config_, true);
    backend_ = std::make_unique<haven::upstream::Backend>(config_.backends[0], 0, binding_.backends[0], binding_.servers[0]);
  }
  haven::admin::Inventory inventory() override {
    haven::admin::Inventory inventory;
    inventory.config = &config_;
    inventory.backends.push_back(backend_.get());
    inventory.frontends = binding_.frontends;
    inventory.shifts.push_back(shift);
    return inventory;
  }
  haven::admin::ProcessStats process() override { return {}; }
  const haven::admin::History& history() override { return history_; }
  void server_admin_changed() override { ++changes; }
  haven::admin::ReloadResult reload(std::string_view /*source*/) override {
    ++reloads;
    return {false, "test.toml:3:1: refused"};
  }
  std::string start_shift(std::string_view backend, haven::state::ShiftPlan plan, std::string_view /*who*/) override {
    if (backend != "api") return "no backend";
    if (shift && shift->phase == haven::state::ShiftPhase::Running) return "backend api already has a shift";
    shift.emplace();
    shift->plan = std::move(plan);
    shift->share = shift->plan.steps.front();
    return {};
  }
  std::string shift_command(std::string_view /*backend*/, std::string_view action, std::string_view /*who*/) override {
    if (!shift) return "backend api has no shift";
    if (action == "pause") shift->phase = haven::state::ShiftPhase::Paused;
    if (action == "abort") shift->phase = haven::state::ShiftPhase::Aborted;
    return {};
  }
  std::optional<haven::admin::ShiftView> shift;

  haven::state::ServerRuntime& server() { return *binding_.servers[0][0]; }
  int changes = 0;
  int reloads = 0;

 private:
  config::Config config_;
  haven::state::Registry registry_;
  haven::state::Binding binding_;
  std::unique_ptr<haven::upstream::Backend> backend_;
  haven::admin::History history_;
};

struct Fixture {
  explicit Fixture(std::string token = "", bool read_token_required = false) {
    settings.enabled = true;
    settings.bind = {"127.0.0.1", 9000, false, "127.0.0.1:9000"};
    settings.token = std::move(token);
    settings.read_token_required = read_token_required;
    std::string error;
    events = std::make_unique<haven::log::EventLog>(haven::log::Output::open("off", error), config::LogFormat::Text);
    api = std::make_unique<AdminApi>(settings, process, *events);
  }
  // One request by method name; answers with status and body.
  haven::admin::AdminResponse call(std::string_view method, std::string target, std::string body = "") {
    const Method m = method == "GET"    ? Method::Get
                     : method == "POST" ? Method::Post
                                        : Method::Delete;
    return api->handle(request(m, std::move(target), std::move(body)));
  }
  AdminRequest request(Method method, std::string target, std::string body = "") {
    AdminRequest r;
    r.method = method;
    r.target = std::move(target);
    r.host = "127.0.0.1:9000";
    r.body = std::move(body);
    return r;
  }
  config::Admin settings;
  FakeOperator process;
  std::unique_ptr<haven::log::EventLog> events;
  std::unique_ptr<AdminApi> api;
};

constexpr const char* kServer = "/api/v1/backends/api/servers/a";

}  // namespace

TEST_CASE("without a token: local names may read and write") {
  Fixture f;
  CHECK(f.api->handle(f.request(Method::Get, "/stats.json")).status == 200);
  CHECK(f.api->handle(f.request(Method::Patch, kServer, R"({"state":"drain"})")).status == 200);
  CHECK(f.process.server().admin_state() == haven::state::AdminState::Drain);
  CHECK(f.process.changes == 1);
  AdminRequest rebound = f.request(Method::Get, "/stats.json");
  rebound.host = "attacker.example";
  CHECK(f.api->handle(rebound).status == 403);
  rebound.host = "localhost:9000";
  CHECK(f.api->handle(rebound).status == 200);
  rebound.host = "[::1]:9000";
  CHECK(f.api->handle(rebound).status == 200);
}

TEST_CASE("with a token: writes need it, reads only when asked or when a wrong one is sent") {
  Fixture f("0123456789abcdef");
  CHECK(f.api->handle(f.request(Method::Get, "/metrics")).status == 200);
  AdminRequest write = f.request(Method::Patch, kServer, R"({"weight": 7})");
  CHECK(f.api->handle(write).status == 401);
  write.authorization = "Bearer 0123456789abcdeX";
  CHECK(f.api->handle(write).status == 401);
  write.authorization = "Bearer 0123456789abcdef0";
  CHECK(f.api->handle(write).status == 401);
  write.authorization = "Bearer 0123456789abcdef";
  CHECK(f.api->handle(write).status == 200);
  CHECK(f.process.server().runtime_weight() == 7);
  AdminRequest wrong_read = f.request(Method::Get, "/metrics");
  wrong_read.authorization = "Bearer nope";
  CHECK(f.api->handle(wrong_read).status == 401);

  Fixture strict("0123456789abcdef", true);
  CHECK(strict.api->handle(strict.request(Method::Get, "/stats.json")).status == 401);
}

TEST_CASE("a foreign Origin or a cross-site fetch is refused before anything happens") {
  Fixture f;
  AdminRequest write = f.request(Method::Patch, kServer, R"({"state":"maint"})");
  write.origin = "http://evil.example";
  CHECK(f.api->handle(write).status == 403);
  write.origin = "http://127.0.0.1:9000";
  write.fetch_site = "cross-site";
  CHECK(f.api->handle(write).status == 403);
  CHECK(f.process.server().admin_state() == haven::state::AdminState::Ready);
  write.fetch_site = "same-origin";
  CHECK(f.api->handle(write).status == 200);
}

TEST_CASE("leaving maintenance, a checked server waits for a passing check") {
  Fixture f;
  CHECK(f.api->handle(f.request(Method::Patch, kServer, R"({"state":"maint"})")).status == 200);
  CHECK(f.process.server().health() == haven::state::Health::Up);
  CHECK(f.api->handle(f.request(Method::Patch, kServer, R"({"state":"ready"})")).status == 200);
  CHECK(f.process.server().health() == haven::state::Health::Checking);
  CHECK_FALSE(f.process.server().serving());
}

TEST_CASE("weights: 0 to 256, null for the configured one") {
  Fixture f;
  CHECK(f.api->handle(f.request(Method::Patch, kServer, R"({"weight": 257})")).status == 400);
  CHECK(f.api->handle(f.request(Method::Patch, kServer, R"({"weight": -1})")).status == 400);
  CHECK(f.api->handle(f.request(Method::Patch, kServer, R"({"weight": 0})")).status == 200);
  CHECK(f.process.server().effective_weight(3) == 0);
  CHECK(f.api->handle(f.request(Method::Patch, kServer, R"({"weight": null})")).status == 200);
  CHECK(f.process.server().effective_weight(3) == 3);
}

TEST_CASE("queries are ignored for routing; unknown paths and methods get JSON errors") {
  Fixture f;
  CHECK(f.api->handle(f.request(Method::Get, "/stats.json?x=1")).status == 200);
  const auto missing = f.api->handle(f.request(Method::Get, "/api/v1/backends/zzz"));
  CHECK(missing.status == 404);
  CHECK(missing.content_type == "application/json");
  const auto refused = f.api->handle(f.request(Method::Put, kServer, "{}"));
  CHECK(refused.status == 405);
  CHECK(refused.allow == "GET, HEAD, PATCH");
}

TEST_CASE("POST /api/v1/reload answers what the reload did; other methods are refused") {
  Fixture f;
  const auto refused = f.api->handle(f.request(Method::Post, "/api/v1/reload"));
  CHECK(refused.status == 422);
  CHECK(refused.body.find("test.toml:3:1: refused") != std::string::npos);
  CHECK(f.process.reloads == 1);
  CHECK(f.api->handle(f.request(Method::Get, "/api/v1/reload")).status == 405);
  CHECK(f.process.reloads == 1);
}

TEST_CASE("only literal local names pass the Host rule, token or not, on a loopback listener") {
  for (const bool with_token : {false, true}) {
    Fixture f(with_token ? "0123456789abcdef" : "");
    for (const char* host : {"127.0.0.1.attacker.example:9000", "127.x.attacker.example", "127.0.0.1x",
                             "localhost.attacker.example", "attacker.example:9000", "", "[::1"}) {
      CAPTURE(host);
      AdminRequest request = f.request(Method::Get, "/stats.json");
      request.host = host;
      CHECK(f.api->handle(request).status == 403);
    }
    for (const char* host : {"127.0.0.1:9000", "127.1.2.3", "localhost", "[::1]:9000"}) {
      CAPTURE(host);
      AdminRequest request = f.request(Method::Get, "/stats.json");
      request.host = host;
      CHECK(f.api->handle(request).status == 200);
    }
  }
}

TEST_CASE("shifts: started from a JSON plan, shown, commanded; bad plans refused with a sentence") {
  Fixture f;
  CHECK(f.call("GET", "/api/v1/backends/api/shift").status == 404);
  auto bad = f.call("POST", "/api/v1/backends/api/shift", R"({"from":"prod1","to":"prod2","steps":"10,50"})");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("the last step must be 100") != std::string::npos);
  bad = f.call("POST", "/api/v1/backends/api/shift", R"({"from":"prod1","to":"prod2","max_error_rate":"5 percent"})");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("max_error_rate") != std::string::npos);
  bad = f.call("POST", "/api/v1/backends/api/shift", R"({"from":"prod1","to":"prod2","speed":1})");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("unknown member") != std::string::npos);

  const auto started = f.call("POST", "/api/v1/backends/api/shift",
                              R"({"from":"prod1","to":"prod2","steps":"5,20,100","hold":"30s","min_requests":50,)"
                              R"("max_error_rate":"2%","max_p99":"400ms","max_error_rate_delta":"0.5%","failure_limit":2})");
  CHECK(started.status == 201);
  REQUIRE(f.process.shift);
  const auto& plan = f.process.shift->plan;
  CHECK(plan.steps == std::vector<int>{5, 20, 100});
  CHECK(plan.hold_ms == 30000);
  CHECK(plan.min_requests == 50);
  CHECK(plan.max_error_rate == doctest::Approx(0.02));
  CHECK(plan.max_p99_ms == 400);
  CHECK(*plan.max_error_rate_delta == doctest::Approx(0.005));
  CHECK(plan.failure_limit == 2);
  CHECK(started.body.find(R"("from":"prod1","to":"prod2","state":"running","share":5)") != std::string::npos);
  CHECK(f.call("POST", "/api/v1/backends/api/shift", R"({"from":"prod1","to":"prod2"})").status == 409);
  CHECK(f.call("GET", "/api/v1/backends/api/shift").status == 200);
  const auto paused = f.call("POST", "/api/v1/backends/api/shift/pause");
  CHECK(paused.status == 200);
  CHECK(paused.body.find(R"("state":"paused")") != std::string::npos);
  CHECK(f.call("POST", "/api/v1/backends/api/shift/explode").status == 404);
  CHECK(f.call("DELETE", "/api/v1/backends/api/shift").status == 405);
}

TEST_CASE("rates are written as percents or fractions") {
  CHECK(*haven::admin::parse_rate("1%") == doctest::Approx(0.01));
  CHECK(*haven::admin::parse_rate("0.5%") == doctest::Approx(0.005));
  CHECK(*haven::admin::parse_rate("0.01") == doctest::Approx(0.01));
  CHECK_FALSE(haven::admin::parse_rate("150%"));
  CHECK_FALSE(haven::admin::parse_rate("-1%"));
  CHECK_FALSE(haven::admin::parse_rate("1e-2"));
  CHECK_FALSE(haven::admin::parse_rate(""));
}
