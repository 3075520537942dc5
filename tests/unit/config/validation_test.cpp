// Every refusal names the offending value (or, for a missing key, the table that lacks it) by line
// and column, with a plain sentence.
#include "haven/config/loader.hpp"

#include <doctest/doctest.h>

#include "config_test_support.hpp"

using namespace haven::config;
using haven::config::test::contains;
using haven::config::test::must_fail;
using haven::config::test::where;

TEST_CASE("unknown key at the top level") {
  const ConfigError error = must_fail(R"([globl]
workers = 1
)");
  CHECK(error.file == "test.toml");
  CHECK(where(error) == "1:2");
  CHECK(error.message == "unknown key \"globl\" at the top level (did you mean \"global\"?)");
  CHECK(error.to_string() == "test.toml:1:2: unknown key \"globl\" at the top level (did you mean \"global\"?)");
}

TEST_CASE("unknown key without a close match gets no suggestion") {
  const ConfigError error = must_fail(R"([global]
workers = 1
colour = "blue"
)");
  CHECK(where(error) == "3:1");
  CHECK(error.message == "unknown key \"colour\" in [global]");
}

TEST_CASE("unknown key in a backend") {
  const ConfigError error = must_fail(R"([backends.api]
retires = 2
servers = [{ name = "a", address = "127.0.0.1:9000" }]
)");
  CHECK(where(error) == "2:1");
  CHECK(error.message == "unknown key \"retires\" in backend \"api\" (did you mean \"retries\"?)");
}

TEST_CASE("unknown key in a check") {
  const ConfigError error = must_fail(R"([backends.api]
check = { path = "/healthz", intervall = "1s" }
servers = [{ name = "a", address = "127.0.0.1:9000" }]
)");
  CHECK(where(error) == "2:30");
  CHECK(error.message == "unknown key \"intervall\" in the check of backend \"api\" (did you mean \"interval\"?)");
}

TEST_CASE("unknown key in a server") {
  const ConfigError error = must_fail(R"([backends.api]
servers = [
  { name = "a", adress = "127.0.0.1:9000" },
]
)");
  CHECK(where(error) == "3:17");
  CHECK(error.message == "unknown key \"adress\" in a server of backend \"api\" (did you mean \"address\"?)");
}

TEST_CASE("unknown keys in the other tables") {
  SUBCASE("[log]") {
    const ConfigError error = must_fail(R"([log]
acess = "off"
)");
    CHECK(where(error) == "2:1");
    CHECK(error.message == "unknown key \"acess\" in [log] (did you mean \"access\"?)");
  }
  SUBCASE("[timeouts]") {
    const ConfigError error = must_fail(R"([timeouts]
keepalive = "5s"
)");
    CHECK(where(error) == "2:1");
    CHECK(error.message == "unknown key \"keepalive\" in [timeouts] (did you mean \"keep_alive\"?)");
  }
  SUBCASE("[maintenance]") {
    const ConfigError error = must_fail(R"([maintenance]
pages = ""
)");
    CHECK(where(error) == "2:1");
    CHECK(error.message == "unknown key \"pages\" in [maintenance] (did you mean \"page\"?)");
  }
  SUBCASE("a frontend") {
    const ConfigError error = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
max_header_byte = 2048
)");
    CHECK(where(error) == "7:1");
    CHECK(error.message == "unknown key \"max_header_byte\" in frontend \"web\" (did you mean \"max_header_bytes\"?)");
  }
  SUBCASE("a frontend's timeouts") {
    const ConfigError error = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
timeouts = { conect = "1s" }
)");
    CHECK(where(error) == "7:14");
    CHECK(error.message == "unknown key \"conect\" in the timeouts of frontend \"web\" (did you mean \"connect\"?)");
  }
  SUBCASE("a route") {
    const ConfigError error = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
routes = [{ prefix = "/api", backend = "api" }]
)");
    CHECK(where(error) == "7:13");
    CHECK(error.message == "unknown key \"prefix\" in a route of frontend \"web\"");
  }
}

TEST_CASE("a route naming a missing backend") {
  const ConfigError error = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
routes = [
  { path_prefix = "/api", backend = "apii" },
]
)");
  CHECK(where(error) == "8:37");
  CHECK(error.message == "route names backend \"apii\", which is not defined (did you mean \"api\"?)");
}

TEST_CASE("default_backend naming a missing backend") {
  const ConfigError error = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "nope"
)");
  CHECK(where(error) == "6:19");
  CHECK(error.message == "default_backend names backend \"nope\", which is not defined");
}

TEST_CASE("maintenance_requires naming a missing backend") {
  const ConfigError error = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
maintenance_requires = ["api", "db"]
)");
  CHECK(where(error) == "7:32");
  CHECK(error.message == "maintenance_requires names backend \"db\", which is not defined");
}

TEST_CASE("duplicate server names within a backend") {
  const ConfigError error = must_fail(R"([backends.api]
servers = [
  { name = "a", address = "127.0.0.1:9000" },
  { name = "a", address = "127.0.0.1:9001" },
]
)");
  CHECK(where(error) == "4:12");
  CHECK(error.message == "server name \"a\" appears twice in backend \"api\"");
}

TEST_CASE("the same server name in two backends is fine") {
  const ConfigResult result = parse_config(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[backends.web]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
)",
                                           "test.toml");
  CHECK(result.ok());
}

TEST_CASE("server names use a restricted alphabet") {
  const ConfigError error = must_fail(R"([backends.api]
servers = [
  { name = "a b", address = "127.0.0.1:9000" },
]
)");
  CHECK(where(error) == "3:12");
  CHECK(error.message == "server name \"a b\" may only use letters, digits, \"_\", \".\" and \"-\"");

  const ConfigError empty = must_fail(R"([backends.api]
servers = [
  { name = "", address = "127.0.0.1:9000" },
]
)");
  CHECK(where(empty) == "3:12");
  CHECK(contains(empty.message, "server name \"\" may only use"));
}

TEST_CASE("bad server addresses") {
  struct Case {
    const char* address;
    const char* message;
  };
  const Case cases[] = {
      {"10.0.0.1", "bad address \"10.0.0.1\": missing \":port\""},
      {"10.0.0.1:70000", "bad address \"10.0.0.1:70000\": port 70000 is out of range (1-65535)"},
      {"10.0.0.1:0", "bad address \"10.0.0.1:0\": port 0 is out of range (1-65535)"},
      {"no such host:80", "bad address \"no such host:80\": \"no such host\" is not a valid host name"},
      {"%%%:80", "bad address \"%%%:80\": \"%%%\" is not a valid host name"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.address);
    // The address value starts at column 27 of line 3.
    const std::string text = std::string("[backends.api]\nservers = [\n  { name = \"a\", address = \"") + c.address +
                             "\" },\n]\n";
    const ConfigError error = must_fail(text);
    CHECK(where(error) == "3:27");
    CHECK(error.message == c.message);
  }
}

TEST_CASE("a server needs a name and an address") {
  const ConfigError no_name = must_fail(R"([backends.api]
servers = [
  { address = "127.0.0.1:9000" },
]
)");
  CHECK(where(no_name) == "3:3");
  CHECK(no_name.message == "a server of backend \"api\" needs a \"name\"");

  const ConfigError no_address = must_fail(R"([backends.api]
servers = [
  { name = "a" },
]
)");
  CHECK(where(no_address) == "3:3");
  CHECK(no_address.message == "server \"a\" of backend \"api\" needs an \"address\"");
}

TEST_CASE("a bad bind address") {
  const ConfigError error = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1"
default_backend = "api"
)");
  CHECK(where(error) == "5:8");
  CHECK(error.message == "bad address \"127.0.0.1\": missing \":port\"");
}

TEST_CASE("two frontends on the same address") {
  const ConfigError error = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.one]
bind = "127.0.0.1:8080"
default_backend = "api"

[frontends.two]
bind = "127.0.0.1:8080"
default_backend = "api"
)");
  CHECK(where(error) == "9:8");
  CHECK(error.message == "frontend \"two\" binds \"127.0.0.1:8080\", which frontend \"one\" already binds");
}

TEST_CASE("bad durations") {
  SUBCASE("a bare number in a string") {
    const ConfigError error = must_fail(R"([timeouts]
connect = "5"
)");
    CHECK(where(error) == "2:11");
    CHECK(error.message == "duration \"5\" needs a unit (ms, s, m or h)");
  }
  SUBCASE("an unknown unit") {
    const ConfigError error = must_fail(R"([timeouts]
client = "30s"
connect = "5sec"
)");
    CHECK(where(error) == "3:11");
    CHECK(error.message == "bad duration \"5sec\": write a number followed by ms, s, m or h");
  }
  SUBCASE("a negative number") {
    const ConfigError error = must_fail(R"([timeouts]
connect = -1
)");
    CHECK(where(error) == "2:11");
    CHECK(error.message == "connect must be a duration with a unit, such as \"2s\", not a bare number");
  }
  SUBCASE("a negative duration") {
    const ConfigError error = must_fail(R"([maintenance]
retry_after = "-1s"
)");
    CHECK(where(error) == "2:15");
    CHECK(error.message == "bad duration \"-1s\": write a number followed by ms, s, m or h");
  }
  SUBCASE("a boolean") {
    const ConfigError error = must_fail(R"([timeouts]
tunnel = false
)");
    CHECK(where(error) == "2:10");
    CHECK(error.message == "tunnel must be a duration string, such as \"2s\"");
  }
  SUBCASE("a zero timeout") {
    const ConfigError error = must_fail(R"([timeouts]
keep_alive = "0s"
)");
    CHECK(where(error) == "2:14");
    CHECK(error.message == "keep_alive must be greater than 0");
  }
  SUBCASE("a zero check interval") {
    const ConfigError error = must_fail(R"([backends.api]
check = { interval = "0ms" }
servers = [{ name = "a", address = "127.0.0.1:9000" }]
)");
    CHECK(where(error) == "2:22");
    CHECK(error.message == "interval must be greater than 0");
  }
  SUBCASE("a poll interval under a second") {
    const ConfigError error = must_fail(R"([maintenance]
poll_interval = "500ms"
)");
    CHECK(where(error) == "2:17");
    CHECK(error.message == "poll_interval must be at least 1s");
  }
  SUBCASE("in a backend's timeouts") {
    const ConfigError error = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[backends.api.timeouts]
server = "1 s"
)");
    CHECK(where(error) == "5:10");
    CHECK(error.message == "bad duration \"1 s\": write a number followed by ms, s, m or h");
  }
}

TEST_CASE("a backend without servers") {
  const ConfigError missing = must_fail(R"([global]
workers = 2

[backends.api]
retries = 1
)");
  CHECK(where(missing) == "4:1");
  CHECK(missing.message == "backend \"api\" has no servers");

  const ConfigError empty = must_fail(R"([backends.api]
servers = []
)");
  CHECK(where(empty) == "2:11");
  CHECK(empty.message == "backend \"api\" has no servers");
}

TEST_CASE("a frontend without bind or default_backend") {
  const ConfigError no_bind = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
default_backend = "api"
)");
  CHECK(where(no_bind) == "4:1");
  CHECK(no_bind.message == "frontend \"web\" needs a \"bind\" address");

  const ConfigError no_default = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
)");
  CHECK(where(no_default) == "4:1");
  CHECK(no_default.message == "frontend \"web\" needs a \"default_backend\"");
}

TEST_CASE("at least one frontend and one backend") {
  const ConfigError no_frontends = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]
)");
  CHECK(where(no_frontends) == "1:1");
  CHECK(no_frontends.message == "no frontends defined (add a [frontends.NAME] table)");

  const ConfigError no_backends = must_fail("");
  CHECK(where(no_backends) == "1:1");
  CHECK(no_backends.message == "no backends defined (add a [backends.NAME] table with servers)");

  const ConfigError empty_backends = must_fail(R"([global]
workers = 1
[backends]
)");
  CHECK(where(empty_backends) == "3:1");
  CHECK(empty_backends.message == "no backends defined (add a [backends.NAME] table with servers)");
}

TEST_CASE("routes need a path prefix that starts with a slash, and a backend") {
  const ConfigError slash = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
routes = [{ path_prefix = "api", backend = "api" }]
)");
  CHECK(where(slash) == "7:27");
  CHECK(slash.message == "path_prefix must start with \"/\", not \"api\"");

  const ConfigError no_backend = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
routes = [{ path_prefix = "/api" }]
)");
  CHECK(where(no_backend) == "7:11");
  CHECK(no_backend.message == "a route of frontend \"web\" needs a \"backend\"");
}

TEST_CASE("a TOML syntax error is reported where toml++ found it") {
  const ConfigError error = must_fail(R"([global]
workers = = 1
)");
  CHECK(error.file == "test.toml");
  CHECK(where(error) == "2:11");
  CHECK_FALSE(error.message.empty());
  CHECK(contains(error.message, "value"));

  const ConfigError redefined = must_fail(R"([global]
workers = 1
workers = 2
)");
  CHECK(redefined.line == 3);
  CHECK(contains(redefined.message, "workers"));
}

TEST_CASE("wrong types") {
  struct Case {
    const char* text;
    const char* position;
    const char* message;
  };
  const Case cases[] = {
      {"global = 3\n", "1:10", "global must be a table"},
      {"[global]\nworkers = \"1\"\n", "2:11", "workers must be an integer"},
      {"[global]\nworkers = 1.5\n", "2:11", "workers must be an integer"},
      {"[log]\nformat = 1\n", "2:10", "format must be a string"},
      {"[maintenance]\npoll = \"/healthz\"\n", "2:8", "poll must be an array"},
      {"[maintenance]\npoll = [\"/healthz\", 1]\n", "2:21", "each entry of poll must be a string"},
      {"[backends]\napi = 1\n", "2:7", "backend \"api\" must be a table"},
      {"[backends.api]\ncheck = \"yes\"\n", "2:9", "check must be a table"},
      {"[backends.api]\nservers = \"a\"\n", "2:11", "servers must be an array"},
      {"[backends.api]\nservers = [\"a\"]\n", "2:12", "each server of backend \"api\" must be a table"},
      {"[backends.api]\nall_backups = 1\n", "2:15", "all_backups must be true or false"},
      {"[backends.api]\ntimeouts = \"1s\"\n", "2:12", "timeouts must be a table"},
      {"[backends.api]\nservers = [{ name = 1, address = \"127.0.0.1:80\" }]\n", "2:21", "name must be a string"},
      {"[backends.api]\nservers = [{ name = \"a\", address = \"127.0.0.1:80\", backup = \"yes\" }]\n", "2:61",
       "backup must be true or false"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    const ConfigError error = must_fail(c.text);
    CHECK(where(error) == c.position);
    CHECK(error.message == c.message);
  }
}

TEST_CASE("frontend value types") {
  const ConfigError bind = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = 8080
default_backend = "api"
)");
  CHECK(where(bind) == "5:8");
  CHECK(bind.message == "bind must be a string");

  const ConfigError requires_ = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
maintenance_requires = "api"
)");
  CHECK(where(requires_) == "7:24");
  CHECK(requires_.message == "maintenance_requires must be an array");

  const ConfigError route = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
routes = ["/api"]
)");
  CHECK(where(route) == "7:11");
  CHECK(route.message == "each route must be a table");
}

TEST_CASE("numbers out of range") {
  struct Case {
    const char* text;
    const char* position;
    const char* message;
  };
  const Case cases[] = {
      {"[global]\nworkers = 300\n", "2:11", "workers must be between 0 and 256, not 300"},
      {"[global]\nworkers = -1\n", "2:11", "workers must be between 0 and 256, not -1"},
      {"[global]\nmax_connections = 0\n", "2:19", "max_connections must be between 1 and 1000000, not 0"},
      {"[backends.api]\nretries = 11\n", "2:11", "retries must be between 0 and 10, not 11"},
      {"[backends.api]\ncheck = { rise = 0 }\n", "2:18", "rise must be between 1 and 100, not 0"},
      {"[backends.api]\ncheck = { fall = 101 }\n", "2:18", "fall must be between 1 and 100, not 101"},
      {"[backends.api]\nservers = [{ name = \"a\", address = \"127.0.0.1:80\", weight = 257 }]\n", "2:61",
       "weight must be between 0 and 256, not 257"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    const ConfigError error = must_fail(c.text);
    CHECK(where(error) == c.position);
    CHECK(error.message == c.message);
  }

  const ConfigError header_bytes = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
max_header_bytes = 1023
)");
  CHECK(where(header_bytes) == "7:20");
  CHECK(header_bytes.message == "max_header_bytes must be between 1024 and 65536, not 1023");

  const ConfigError headers = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
max_headers = 1001
)");
  CHECK(where(headers) == "7:15");
  CHECK(headers.message == "max_headers must be between 1 and 1000, not 1001");

  // A limit the read buffers cannot hold used to be accepted and silently capped.
  const ConfigError too_big = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
max_header_bytes = 1048576
)");
  CHECK(where(too_big) == "7:20");
  CHECK(too_big.message == "max_header_bytes must be between 1024 and 65536, not 1048576");

  const ConfigError rate = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
min_body_rate = "1KB/s"
)");
  CHECK(where(rate) == "7:17");
  CHECK(rate.message == "min_body_rate must be a rate such as \"1KiB/s\" (B/s, KiB/s or MiB/s), not \"1KB/s\"");

  const ConfigError response_bytes = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]
max_response_header_bytes = 131072
)");
  CHECK(where(response_bytes) == "3:29");
  CHECK(response_bytes.message == "max_response_header_bytes must be between 1024 and 65536, not 131072");

  const ConfigError response_headers = must_fail(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]
max_response_headers = 0
)");
  CHECK(where(response_headers) == "3:24");
  CHECK(response_headers.message == "max_response_headers must be between 1 and 1000, not 0");
}

TEST_CASE("choices") {
  struct Case {
    const char* text;
    const char* position;
    const char* message;
  };
  const Case cases[] = {
      {"[log]\nformat = \"xml\"\n", "2:10", "format must be \"text\" or \"json\", not \"xml\""},
      {"[log]\naccess = \"\"\n", "2:10", "access must not be empty (write \"off\" to disable it)"},
      {"[backends.api]\nbalance = \"rr\"\n", "2:11",
       "balance must be \"roundrobin\", \"leastconn\" or \"first\", not \"rr\""},
      {"[backends.api]\nbalance = \"fisrt\"\n", "2:11",
       "balance must be \"roundrobin\", \"leastconn\" or \"first\", not \"fisrt\" (did you mean \"first\"?)"},
      {"[backends.api]\ncheck = { method = \"POST\" }\n", "2:20", "method must be \"GET\" or \"HEAD\", not \"POST\""},
      {"[backends.api]\ncheck = { path = \"healthz\" }\n", "2:18", "path must start with \"/\", not \"healthz\""},
      {"[maintenance]\npoll = [\"/ok\", \"healthz\"]\n", "2:16", "each entry of poll must start with \"/\", not \"healthz\""},
      {"[backends.api]\nservers = [{ name = \"a\", address = \"127.0.0.1:9000\" }]\n[frontends.web]\n"
       "underscores_in_headers = \"keep\"\n",
       "4:26",
       "underscores_in_headers must be \"drop\", \"reject\" or \"allow\", not \"keep\""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    const ConfigError error = must_fail(c.text);
    CHECK(where(error) == c.position);
    CHECK(error.message == c.message);
  }
}

TEST_CASE("the first problem in reading order is the one reported") {
  // [timeouts] is read before the backends, whatever the order in the file.
  const ConfigError error = must_fail(R"([backends.api]
retires = 2

[timeouts]
connect = "5"
)");
  CHECK(where(error) == "5:11");
}

TEST_CASE("a backend has at most 64 servers") {
  std::string text = "[frontends.web]\nbind = \"127.0.0.1:0\"\ndefault_backend = \"big\"\n[backends.big]\nservers = [\n";
  for (int i = 0; i < 65; ++i) text += "  { name = \"s" + std::to_string(i) + "\", address = \"127.0.0.1:9000\" },\n";
  text += "]\n";
  const ConfigError error = must_fail(text);
  CHECK(where(error) == "5:11");
  CHECK(contains(error.message, "at most 64"));
}
