#include "haven/config/loader.hpp"

#include <doctest/doctest.h>

#include <filesystem>

#include "config_test_support.hpp"

using namespace haven::config;
using haven::config::test::must_load;
using haven::config::test::where;

namespace {

// A copy of conf/haven.toml, so that the values below are checked against text that sits next to them.
constexpr std::string_view kHavenToml = R"([global]
workers = 1                 # event-loop threads; 0 = one per CPU core
max_connections = 20000     # all frontends together; at the limit, accepting pauses

[admin]                     # the stats page, stats.json, /metrics and the runtime API (off without this table)
bind = "127.0.0.1:9000"     # a non-loopback bind needs a token
# token = "..."             # bearer token (16+ characters): required for changes, and for reads too
# read_token_required = false   # with read_token_required = true
# state_file = "/var/lib/haven/admin.state"   # drain/maint states and runtime weights across restarts

[log]
access = "stdout"           # "stdout", "stderr", a file path, or "off"
events = "stderr"
format = "text"             # "text" or "json"

[timeouts]                  # defaults; a frontend or a backend may override any of them
connect = "2s"
client = "30s"              # client inactivity while a request is in progress
server = "30s"              # waiting for the server's next bytes
http_request = "10s"        # whole request head must arrive within this (slowloris)
keep_alive = "5s"           # idle client connection between requests
tunnel = "1h"               # idle upgraded (WebSocket) connection
shutdown = "10s"            # grace for in-flight requests on SIGTERM

[maintenance]
page = ""                   # "" = the bundled static/maintenance.html compiled into the binary
retry_after = "5s"

[frontends.web]
bind = "0.0.0.0:8080"
default_backend = "static"
routes = [
  { path_prefix = "/api", backend = "api" },
]
maintenance_requires = ["static", "api"]

[backends.api]
balance = "roundrobin"      # roundrobin | leastconn | first
retries = 2
check = { method = "GET", path = "/healthz", interval = "1s", timeout = "500ms", rise = 2, fall = 3, expect_status = "200-399" }
servers = [
  { name = "main_api",     address = "10.0.0.10:8080" },
  { name = "fallback_api", address = "10.0.0.11:8080", backup = true },
]

[backends.static]
check = { path = "/healthz" }
servers = [
  { name = "main_static",     address = "10.0.0.20:80" },
  { name = "fallback_static", address = "10.0.0.21:80", backup = true },
]
)";

void check_global_timeouts(const Timeouts& timeouts) {
  CHECK(timeouts.connect == Duration(2000));
  CHECK(timeouts.client == Duration(30000));
  CHECK(timeouts.server == Duration(30000));
  CHECK(timeouts.http_request == Duration(10000));
  CHECK(timeouts.keep_alive == Duration(5000));
  CHECK(timeouts.tunnel == Duration(3600000));
  CHECK(timeouts.shutdown == Duration(10000));
}

void check_server(const Server& server, std::string_view name, std::string_view host, int port, bool backup) {
  CHECK(server.name == name);
  CHECK(server.address.host == host);
  CHECK(server.address.port == port);
  CHECK_FALSE(server.address.is_ipv6);
  CHECK(server.backup == backup);
  CHECK(server.weight == 1);
}

std::filesystem::path repository_file(const char* relative) {
  // __FILE__ is absolute in CMake builds; tests/unit/config/ is three levels below the root.
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / relative;
}

}  // namespace

TEST_CASE("haven.toml loads with every value in place") {
  const Config config = must_load(kHavenToml, "conf/haven.toml");
  CHECK(config.source == "conf/haven.toml");
  CHECK(config.admin.enabled);
  CHECK(config.admin.bind.text == "127.0.0.1:9000");
  CHECK(config.admin.token.empty());

  CHECK(config.global.workers == 1);
  CHECK(config.global.max_connections == 20000);

  CHECK(config.log.access == "stdout");
  CHECK(config.log.events == "stderr");
  CHECK(config.log.format == LogFormat::Text);

  check_global_timeouts(config.timeouts);

  CHECK(config.maintenance.page.empty());
  CHECK(config.maintenance.retry_after == Duration(5000));
  CHECK(config.maintenance.poll == std::vector<std::string>{"/api/healthz", "/healthz"});
  CHECK(config.maintenance.poll_interval == Duration(5000));

  REQUIRE(config.backends.size() == 2);
  const Backend& api = config.backends[0];
  const Backend& statics = config.backends[1];
  CHECK(api.name == "api");
  CHECK(statics.name == "static");
  CHECK(config.find_backend("static") == &statics);

  CHECK(api.balance == Balance::RoundRobin);
  CHECK(api.retries == 2);
  CHECK_FALSE(api.all_backups);
  REQUIRE(api.check.has_value());
  CHECK(api.check->method == "GET");
  CHECK(api.check->path == "/healthz");
  CHECK(api.check->host.empty());
  CHECK(api.check->interval == Duration(1000));
  CHECK(api.check->fast_interval == Duration(1000));
  CHECK(api.check->down_interval == Duration(1000));
  CHECK(api.check->timeout == Duration(500));
  CHECK(api.check->rise == 2);
  CHECK(api.check->fall == 3);
  REQUIRE(api.check->expect_status.size() == 1);
  CHECK(api.check->expect_status[0].low == 200);
  CHECK(api.check->expect_status[0].high == 399);
  REQUIRE(api.servers.size() == 2);
  check_server(api.servers[0], "main_api", "10.0.0.10", 8080, false);
  check_server(api.servers[1], "fallback_api", "10.0.0.11", 8080, true);
  CHECK(api.servers[1].address.text == "10.0.0.11:8080");
  check_global_timeouts(api.timeouts);

  CHECK(statics.balance == Balance::RoundRobin);
  CHECK(statics.retries == 2);
  CHECK_FALSE(statics.all_backups);
  REQUIRE(statics.check.has_value());
  CHECK(statics.check->method == "GET");
  CHECK(statics.check->path == "/healthz");
  CHECK(statics.check->interval == Duration(2000));
  CHECK(statics.check->fast_interval == Duration(2000));
  CHECK(statics.check->down_interval == Duration(2000));
  CHECK(statics.check->timeout == Duration(1000));
  CHECK(statics.check->rise == 2);
  CHECK(statics.check->fall == 3);
  REQUIRE(statics.check->expect_status.size() == 1);
  CHECK(statics.check->expect_status[0].low == 200);
  CHECK(statics.check->expect_status[0].high == 399);
  REQUIRE(statics.servers.size() == 2);
  check_server(statics.servers[0], "main_static", "10.0.0.20", 80, false);
  check_server(statics.servers[1], "fallback_static", "10.0.0.21", 80, true);
  check_global_timeouts(statics.timeouts);

  REQUIRE(config.frontends.size() == 1);
  const Frontend& web = config.frontends[0];
  CHECK(web.name == "web");
  CHECK(web.bind.host == "0.0.0.0");
  CHECK(web.bind.port == 8080);
  CHECK_FALSE(web.bind.is_ipv6);
  CHECK(web.bind.text == "0.0.0.0:8080");
  CHECK(web.default_backend == "static");
  CHECK(web.default_backend_index == 1);
  REQUIRE(web.routes.size() == 1);
  CHECK(web.routes[0].path_prefix == "/api");
  CHECK(web.routes[0].backend == "api");
  CHECK(web.routes[0].backend_index == 0);
  CHECK(web.maintenance_requires == std::vector<std::string>{"static", "api"});
  CHECK(web.maintenance_requires_indexes == std::vector<std::size_t>{1, 0});
  check_global_timeouts(web.timeouts);
  CHECK(web.max_header_bytes == 16384);
  CHECK(web.max_headers == 100);
  CHECK(web.underscores_in_headers == HeaderUnderscores::Drop);
  CHECK(web.min_body_rate == 0);
  CHECK(config.backends.at(0).max_response_header_bytes == 65536);
  CHECK(config.backends.at(0).max_response_headers == 200);
}

TEST_CASE("conf/haven.toml on disk loads") {
  const std::string path = repository_file("conf/haven.toml").string();
  const ConfigResult result = load_config_file(path);
  REQUIRE_MESSAGE(result.ok(), (result.ok() ? std::string() : result.error().to_string()));
  CHECK(result->source == path);
  REQUIRE(result->frontends.size() == 1);
  CHECK(result->frontends[0].name == "web");
  REQUIRE(result->backends.size() == 3);
  CHECK(result->backends[0].name == "api");
  CHECK(result->backends[0].stale_if_error.enabled);
  CHECK(result->backends[0].stale_if_error.paths == std::vector<std::string>{"/api/"});
  CHECK(result->backends[1].name == "app");
  CHECK(result->backends[1].servers.at(0).group == "prod1");
  CHECK(result->backends[1].servers.at(3).group == "prod2");
  CHECK(result->backends[2].name == "static");
  CHECK(result->frontends[0].status_path == "/.haven/status");
  CHECK(result->maintenance.recovery_spread == Duration(2000));
}

TEST_CASE("a file that cannot be read is an error at 0:0 naming the file") {
  const ConfigResult result = load_config_file("/nonexistent/haven.toml");
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().file == "/nonexistent/haven.toml");
  CHECK(where(result.error()) == "0:0");
  CHECK(result.error().to_string() ==
        "/nonexistent/haven.toml:0:0: cannot open the configuration file: No such file or directory");
}

TEST_CASE("a directory given as the configuration file is refused") {
  const std::string path = std::filesystem::temp_directory_path().string();
  const ConfigResult result = load_config_file(path);
  REQUIRE_FALSE(result.ok());
  CHECK(where(result.error()) == "0:0");
  CHECK(result.error().message == "cannot read the configuration file: Is a directory");
}

TEST_CASE("errors render as FILE:LINE:COL: message") {
  const ConfigError error{"conf/haven.toml", 12, 7, "something is wrong"};
  CHECK(error.to_string() == "conf/haven.toml:12:7: something is wrong");
}

TEST_CASE("a minimal file takes every default") {
  const Config config = must_load(R"([frontends.web]
bind = "127.0.0.1:0"
default_backend = "app"

[backends.app]
servers = [{ name = "a", address = "127.0.0.1:9000" }]
)");
  const Config defaults;
  CHECK(config.global.workers == defaults.global.workers);
  CHECK(config.global.max_connections == defaults.global.max_connections);
  CHECK(config.log.access == "stdout");
  CHECK(config.log.events == "stderr");
  CHECK(config.log.format == LogFormat::Text);
  check_global_timeouts(config.timeouts);
  CHECK(config.maintenance.page.empty());
  CHECK(config.maintenance.retry_after == Duration(5000));
  CHECK(config.maintenance.poll == std::vector<std::string>{"/api/healthz", "/healthz"});
  CHECK(config.maintenance.poll_interval == Duration(5000));

  REQUIRE(config.backends.size() == 1);
  const Backend& app = config.backends[0];
  CHECK(app.balance == Balance::RoundRobin);
  CHECK(app.retries == 2);
  CHECK_FALSE(app.all_backups);
  CHECK_FALSE(app.check.has_value());
  check_global_timeouts(app.timeouts);
  REQUIRE(app.servers.size() == 1);
  CHECK_FALSE(app.servers[0].backup);
  CHECK(app.servers[0].weight == 1);

  REQUIRE(config.frontends.size() == 1);
  const Frontend& web = config.frontends[0];
  CHECK(web.bind.port == 0);
  CHECK(web.routes.empty());
  CHECK(web.maintenance_requires.empty());
  CHECK(web.maintenance_requires_indexes.empty());
  CHECK(web.max_header_bytes == 16384);
  CHECK(web.max_headers == 100);
}

TEST_CASE("every optional key is read") {
  const Config config = must_load(R"([global]
workers = 0
max_connections = 1000000

[log]
access = "off"
events = "/var/log/haven/events.log"
format = "json"

[maintenance]
retry_after = "0s"
poll = ["/status"]
poll_interval = "1s"

[frontends.web]
bind = "[::1]:8443"
default_backend = "app"
max_header_bytes = 1024
max_headers = 1000
underscores_in_headers = "reject"
min_body_rate = "2KiB/s"

[backends.app]
balance = "leastconn"
max_response_header_bytes = 2048
max_response_headers = 7
retries = 0
all_backups = true
check = { method = "HEAD", path = "/ping", host = "app.internal", interval = "3s", fast_interval = "500ms", down_interval = "10s", timeout = "2s", rise = 1, fall = 100, expect_status = "200-299,304" }
servers = [
  { name = "a-1.x_y", address = "127.0.0.1:1", weight = 0 },
  { name = "b", address = "[::1]:65535", weight = 256, backup = false },
]

[backends.first]
balance = "first"
servers = [{ name = "a", address = "127.0.0.1:9000" }]
)");
  CHECK(config.global.workers == 0);
  CHECK(config.global.max_connections == 1000000);
  CHECK(config.log.access == "off");
  CHECK(config.log.events == "/var/log/haven/events.log");
  CHECK(config.log.format == LogFormat::Json);
  CHECK(config.maintenance.retry_after == Duration(0));
  CHECK(config.maintenance.poll == std::vector<std::string>{"/status"});
  CHECK(config.maintenance.poll_interval == Duration(1000));

  const Frontend& web = config.frontends.at(0);
  CHECK(web.bind.host == "::1");
  CHECK(web.bind.port == 8443);
  CHECK(web.bind.is_ipv6);
  CHECK(web.bind.text == "[::1]:8443");
  CHECK(web.max_header_bytes == 1024);
  CHECK(web.max_headers == 1000);
  CHECK(web.underscores_in_headers == HeaderUnderscores::Reject);
  CHECK(web.min_body_rate == 2048);

  const Backend& app = config.backends.at(0);
  CHECK(app.name == "app");
  CHECK(app.max_response_header_bytes == 2048);
  CHECK(app.max_response_headers == 7);
  CHECK(app.balance == Balance::LeastConn);
  CHECK(app.retries == 0);
  CHECK(app.all_backups);
  REQUIRE(app.check.has_value());
  CHECK(app.check->method == "HEAD");
  CHECK(app.check->path == "/ping");
  CHECK(app.check->host == "app.internal");
  CHECK(app.check->interval == Duration(3000));
  CHECK(app.check->fast_interval == Duration(500));
  CHECK(app.check->down_interval == Duration(10000));
  CHECK(app.check->timeout == Duration(2000));
  CHECK(app.check->rise == 1);
  CHECK(app.check->fall == 100);
  REQUIRE(app.check->expect_status.size() == 2);
  CHECK(app.check->status_expected(204));
  CHECK(app.check->status_expected(304));
  CHECK_FALSE(app.check->status_expected(301));
  REQUIRE(app.servers.size() == 2);
  CHECK(app.servers[0].name == "a-1.x_y");
  CHECK(app.servers[0].address.port == 1);
  CHECK(app.servers[0].weight == 0);
  CHECK(app.servers[1].address.host == "::1");
  CHECK(app.servers[1].address.port == 65535);
  CHECK(app.servers[1].address.is_ipv6);
  CHECK(app.servers[1].weight == 256);
  CHECK_FALSE(app.servers[1].backup);

  CHECK(config.backends.at(1).balance == Balance::First);
}

TEST_CASE("frontends and backends are sorted by name and indexes follow the sort") {
  const Config config = must_load(R"([frontends.zulu]
bind = "127.0.0.1:0"
default_backend = "mike"
routes = [
  { path_prefix = "/a", backend = "alpha" },
  { path_prefix = "/a", backend = "zeta" },
]

[frontends.alpha]
bind = "127.0.0.1:0"
default_backend = "zeta"
maintenance_requires = ["zeta", "alpha", "mike"]

[backends.zeta]
servers = [{ name = "z", address = "127.0.0.1:9003" }]

[backends.mike]
servers = [{ name = "m", address = "127.0.0.1:9002" }]

[backends.alpha]
servers = [{ name = "a", address = "127.0.0.1:9001" }]
)");
  REQUIRE(config.backends.size() == 3);
  CHECK(config.backends[0].name == "alpha");
  CHECK(config.backends[1].name == "mike");
  CHECK(config.backends[2].name == "zeta");
  REQUIRE(config.frontends.size() == 2);
  const Frontend& alpha = config.frontends[0];
  const Frontend& zulu = config.frontends[1];
  CHECK(alpha.name == "alpha");
  CHECK(zulu.name == "zulu");
  CHECK(alpha.default_backend_index == 2);
  CHECK(alpha.maintenance_requires_indexes == std::vector<std::size_t>{2, 0, 1});
  CHECK(zulu.default_backend_index == 1);
  // Duplicate prefixes are kept in order; the router takes the first.
  REQUIRE(zulu.routes.size() == 2);
  CHECK(zulu.routes[0].backend_index == 0);
  CHECK(zulu.routes[1].backend_index == 2);
}

TEST_CASE("frontend and backend timeouts override the [timeouts] defaults key by key") {
  const Config config = must_load(R"([timeouts]
connect = "3s"
client = "20s"

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
timeouts = { client = "1m", http_request = "2s" }

[backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[backends.api.timeouts]
connect = "250ms"
tunnel = "2h"

[backends.plain]
servers = [{ name = "a", address = "127.0.0.1:9000" }]
)");
  CHECK(config.timeouts.connect == Duration(3000));
  CHECK(config.timeouts.client == Duration(20000));
  CHECK(config.timeouts.server == Duration(30000));

  const Timeouts& web = config.frontends.at(0).timeouts;
  CHECK(web.connect == Duration(3000));
  CHECK(web.client == Duration(60000));
  CHECK(web.http_request == Duration(2000));
  CHECK(web.server == Duration(30000));
  CHECK(web.tunnel == Duration(3600000));

  const Timeouts& api = config.backends.at(0).timeouts;
  CHECK(api.connect == Duration(250));
  CHECK(api.client == Duration(20000));
  CHECK(api.tunnel == Duration(7200000));
  CHECK(api.shutdown == Duration(10000));

  const Timeouts& plain = config.backends.at(1).timeouts;
  CHECK(plain.connect == Duration(3000));
  CHECK(plain.client == Duration(20000));
  CHECK(plain.tunnel == Duration(3600000));
}

TEST_CASE("the shutdown grace may be zero") {
  const Config config = must_load(R"([timeouts]
shutdown = "0s"

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "app"

[backends.app]
servers = [{ name = "a", address = "127.0.0.1:9000" }]
)");
  CHECK(config.timeouts.shutdown == Duration(0));
}

TEST_CASE("frontends on port 0 never clash") {
  const Config config = must_load(R"([frontends.a]
bind = "127.0.0.1:0"
default_backend = "app"

[frontends.b]
bind = "127.0.0.1:0"
default_backend = "app"

[backends.app]
servers = [{ name = "a", address = "127.0.0.1:9000" }]
)");
  CHECK(config.frontends.size() == 2);
}

TEST_CASE("server addresses may use localhost") {
  const Config config = must_load(R"([frontends.web]
bind = "localhost:0"
default_backend = "app"

[backends.app]
servers = [{ name = "a", address = "localhost:9000" }]
)");
  const Address& address = config.backends.at(0).servers.at(0).address;
  CHECK((address.host == "127.0.0.1" || address.host == "::1"));
  CHECK(address.port == 9000);
  CHECK(address.text == "localhost:9000");
}
