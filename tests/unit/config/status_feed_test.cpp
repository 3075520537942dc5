// The status feed's settings: status_path per frontend, the backends it reports, and the
// subscriber limit and heartbeat in [global].
#include <string>

#include "config_test_support.hpp"

using namespace haven::config;
using namespace haven::config::test;

namespace {
constexpr std::string_view kTwoBackends = R"(
[frontends.web]
bind = "127.0.0.1:0"
default_backend = "static"
routes = [ { path_prefix = "/api", backend = "api" }, { path_prefix = "/api2", backend = "api" } ]
maintenance_requires = ["auth"]
%s

[backends.static]
servers = [ { name = "s", address = "127.0.0.1:9" } ]
[backends.api]
servers = [ { name = "a", address = "127.0.0.1:9" } ]
[backends.auth]
servers = [ { name = "u", address = "127.0.0.1:9" } ]
[backends.unused]
servers = [ { name = "x", address = "127.0.0.1:9" } ]
)";

std::string with_frontend_line(std::string_view line) {
  const std::string_view text = kTwoBackends;
  const std::size_t at = text.find("%s");
  return std::string(text.substr(0, at)) + std::string(line) + std::string(text.substr(at + 2));
}
}  // namespace

TEST_CASE("status_path defaults to /.haven/status and lists each routed backend once") {
  const Config config = must_load(with_frontend_line(""));
  const Frontend& web = config.frontends[0];
  CHECK(web.status_path == "/.haven/status");
  REQUIRE(web.status_backend_indexes.size() == 3);
  CHECK(config.backends[web.status_backend_indexes[0]].name == "static");
  CHECK(config.backends[web.status_backend_indexes[1]].name == "api");
  CHECK(config.backends[web.status_backend_indexes[2]].name == "auth");
  CHECK(config.global.max_status_subscribers == 10000);
  CHECK(config.global.status_heartbeat == Duration(15000));
}

TEST_CASE("status_path can move or be turned off") {
  CHECK(must_load(with_frontend_line(R"(status_path = "/status.json")")).frontends[0].status_path == "/status.json");
  CHECK(must_load(with_frontend_line(R"(status_path = "")")).frontends[0].status_path.empty());
}

TEST_CASE("a status_path that is not a plain path is refused where it is written") {
  for (const std::string bad : {R"(status_path = "status")", R"(status_path = "/s?x=1")", R"(status_path = "/a b")",
                          R"(status_path = "/s#top")"}) {
    CAPTURE(bad);
    const ConfigError error = must_fail(with_frontend_line(bad));
    CHECK(where(error) == "7:15");
    CHECK(contains(error.message, "status_path must be a path"));
  }
}

TEST_CASE("the subscriber limit and heartbeat are read from [global]") {
  std::string text = "[global]\nmax_status_subscribers = 50\nstatus_heartbeat = \"2s\"\n";
  text += kOneBackend;
  const Config config = must_load(text);
  CHECK(config.global.max_status_subscribers == 50);
  CHECK(config.global.status_heartbeat == Duration(2000));
  const ConfigError error = must_fail("[global]\nstatus_heartbeat = \"10ms\"\n" + std::string(kOneBackend));
  CHECK(where(error) == "2:20");
}

TEST_CASE("stale_if_error: defaults, sizes, paths, and positioned errors") {
  const std::string base(kOneBackend);
  const Config plain = must_load(base);
  CHECK_FALSE(plain.backends[0].stale_if_error.enabled);

  const Config defaults = must_load(base + "[backends.app.stale_if_error]\n");
  const StaleIfError& d = defaults.backends[0].stale_if_error;
  CHECK(d.enabled);
  CHECK(d.max_age == Duration(3600000));
  CHECK(d.max_entry == (1U << 20));
  CHECK(d.max_total == (64U << 20));
  CHECK(d.probe_interval == Duration(1000));
  CHECK(d.paths.empty());

  const Config set = must_load(base + "[backends.app.stale_if_error]\nmax_age = \"10m\"\nmax_entry = \"256KiB\"\n"
                                      "max_total = 1048576\npaths = [\"/api\", \"/\"]\nstale_probe_interval = \"2s\"\n");
  const StaleIfError& s = set.backends[0].stale_if_error;
  CHECK(s.max_age == Duration(600000));
  CHECK(s.max_entry == 256U * 1024);
  CHECK(s.max_total == 1048576);
  CHECK(s.paths == std::vector<std::string>{"/api", "/"});
  CHECK(s.probe_interval == Duration(2000));

  // A small max_total alone lowers max_entry with it.
  CHECK(must_load(base + "[backends.app.stale_if_error]\nmax_total = \"4KiB\"\n").backends[0].stale_if_error.max_entry ==
        4096);

  const ConfigError size = must_fail(base + "[backends.app.stale_if_error]\nmax_entry = \"1 MB\"\n");
  CHECK(contains(size.message, "max_entry must be a size such as"));
  CHECK(where(size) == "9:13");
  const ConfigError path = must_fail(base + "[backends.app.stale_if_error]\npaths = [\"api\"]\n");
  CHECK(contains(path.message, "must start with \"/\""));
  const ConfigError over = must_fail(base + "[backends.app.stale_if_error]\nmax_entry = \"2MiB\"\nmax_total = \"1MiB\"\n");
  CHECK(contains(over.message, "larger than max_total"));
  const ConfigError key = must_fail(base + "[backends.app.stale_if_error]\nmax_ag = \"1h\"\n");
  CHECK(contains(key.message, "max_age"));
}
