// The health check table: defaults, intervals following `interval`, and expect_status lists.
#include "haven/config/loader.hpp"

#include <doctest/doctest.h>

#include "config_test_support.hpp"

using namespace haven::config;
using haven::config::test::must_fail;
using haven::config::test::must_load;
using haven::config::test::where;

namespace {

// A whole configuration around one check table written on line 2.
std::string with_check(std::string_view check) {
  return std::string("[backends.api]\ncheck = ") + std::string(check) +
         "\nservers = [{ name = \"a\", address = \"127.0.0.1:9000\" }]\n"
         "[frontends.web]\nbind = \"127.0.0.1:0\"\ndefault_backend = \"api\"\n";
}

Check load_check(std::string_view check) {
  const Config config = must_load(with_check(check));
  REQUIRE(config.backends.at(0).check.has_value());
  return *config.backends.at(0).check;
}

}  // namespace

TEST_CASE("an empty check table takes every default") {
  const Check check = load_check("{}");
  const Check defaults;
  CHECK(check.method == "GET");
  CHECK(check.path == "/");
  CHECK(check.host.empty());
  CHECK(check.interval == defaults.interval);
  CHECK(check.fast_interval == defaults.interval);
  CHECK(check.down_interval == defaults.interval);
  CHECK(check.timeout == defaults.timeout);
  CHECK(check.rise == 2);
  CHECK(check.fall == 3);
  REQUIRE(check.expect_status.size() == 1);
  CHECK(check.expect_status[0].low == 200);
  CHECK(check.expect_status[0].high == 399);
}

TEST_CASE("fast_interval and down_interval follow interval unless given") {
  const Check follows = load_check("{ interval = \"7s\" }");
  CHECK(follows.interval == Duration(7000));
  CHECK(follows.fast_interval == Duration(7000));
  CHECK(follows.down_interval == Duration(7000));

  const Check own = load_check("{ interval = \"7s\", down_interval = \"30s\" }");
  CHECK(own.fast_interval == Duration(7000));
  CHECK(own.down_interval == Duration(30000));

  // Written before interval in the table: still independent of the order of keys.
  const Check before = load_check("{ fast_interval = \"100ms\", interval = \"4s\" }");
  CHECK(before.fast_interval == Duration(100));
  CHECK(before.down_interval == Duration(4000));
}

TEST_CASE("a check may be written as its own table") {
  const Config config = must_load(R"([backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]

[backends.api.check]
path = "/status"
timeout = "250ms"

[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
)");
  REQUIRE(config.backends.at(0).check.has_value());
  CHECK(config.backends.at(0).check->path == "/status");
  CHECK(config.backends.at(0).check->timeout == Duration(250));
}

TEST_CASE("expect_status lists") {
  const Check single = load_check("{ expect_status = \"200\" }");
  REQUIRE(single.expect_status.size() == 1);
  CHECK(single.expect_status[0].low == 200);
  CHECK(single.expect_status[0].high == 200);
  CHECK(single.status_expected(200));
  CHECK_FALSE(single.status_expected(204));

  const Check listed = load_check("{ expect_status = \"200,204\" }");
  REQUIRE(listed.expect_status.size() == 2);
  CHECK(listed.status_expected(204));
  CHECK_FALSE(listed.status_expected(201));

  const Check mixed = load_check("{ expect_status = \"200-299, 304\" }");
  REQUIRE(mixed.expect_status.size() == 2);
  CHECK(mixed.expect_status[0].low == 200);
  CHECK(mixed.expect_status[0].high == 299);
  CHECK(mixed.expect_status[1].low == 304);
  CHECK(mixed.expect_status[1].high == 304);
  CHECK(mixed.status_expected(250));
  CHECK(mixed.status_expected(304));
  CHECK_FALSE(mixed.status_expected(302));

  const Check edges = load_check("{ expect_status = \"100-599\" }");
  CHECK(edges.status_expected(100));
  CHECK(edges.status_expected(599));
}

TEST_CASE("bad expect_status values") {
  struct Case {
    const char* value;
    const char* message;
  };
  const Case cases[] = {
      {"\"200-99\"", "bad expect_status \"200-99\": \"99\" is not an HTTP status"},
      {"\"300-200\"", "bad expect_status \"300-200\": range \"300-200\" runs backwards"},
      {"\"600\"", "bad expect_status \"600\": status 600 is outside 100-599"},
      {"\"099\"", "bad expect_status \"099\": status 99 is outside 100-599"},
      {"\"20x\"", "bad expect_status \"20x\": \"20x\" is not an HTTP status"},
      {"\"200,,204\"", "bad expect_status \"200,,204\": an item is empty"},
      {"\"200,\"", "bad expect_status \"200,\": an item is empty"},
      {"\"\"", "bad expect_status \"\": an item is empty"},
      {"\"200-\"", "bad expect_status \"200-\": \"\" is not an HTTP status"},
      {"200", "expect_status must be a string such as \"200-399\" or \"200,204\""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.value);
    const ConfigError error = must_fail(with_check(std::string("{ expect_status = ") + c.value + " }"));
    // "check = { expect_status = " is 26 characters, so the value starts at column 27.
    CHECK(where(error) == "2:27");
    CHECK(error.message == c.message);
  }
}

TEST_CASE("check durations must be positive durations") {
  const ConfigError timeout = must_fail(with_check("{ timeout = 5 }"));
  CHECK(where(timeout) == "2:21");
  CHECK(timeout.message == "timeout must be a duration with a unit, such as \"2s\", not a bare number");

  const ConfigError fast = must_fail(with_check("{ fast_interval = \"0s\" }"));
  CHECK(where(fast) == "2:27");
  CHECK(fast.message == "fast_interval must be greater than 0");
}

TEST_CASE("a check path with URL characters is kept as written") {
  CHECK(load_check(R"({ path = "/health/deep?full=1&x=%2F;v=1" })").path == "/health/deep?full=1&x=%2F;v=1");
  CHECK(load_check(R"({ path = "/a:b@c~d!$'()*+,=" })").path == "/a:b@c~d!$'()*+,=");
}

TEST_CASE("a check path that would break the check's request line is refused") {
  struct Case {
    const char* value;
    const char* message;
  };
  const Case cases[] = {
      {R"("/healthz\r\nX-Evil: 1")",
       R"(path must be a request target such as "/healthz": "/healthz\r\nX-Evil: 1" contains a carriage return)"},
      {R"("/healthz\nX-Evil: 1")",
       R"(path must be a request target such as "/healthz": "/healthz\nX-Evil: 1" contains a line feed)"},
      {R"("/healthz HTTP/1.0")",
       R"(path must be a request target such as "/healthz": "/healthz HTTP/1.0" contains a space)"},
      {R"("/health\tz")", R"(path must be a request target such as "/healthz": "/health\tz" contains a tab)"},
      {R"("/health\u0000")",
       R"(path must be a request target such as "/healthz": "/health\u0000" contains the control byte 0x00)"},
      {R"("/health\u007F")",
       R"(path must be a request target such as "/healthz": "/health\u007F" contains the control byte 0x7F)"},
      {R"("/santé")",
       R"(path must be a request target such as "/healthz": "/santé" contains the non-ASCII byte 0xC3 (percent-encode it))"},
      {R"("/healthz#top")", R"(path must be a request target such as "/healthz": "/healthz#top" contains "#")"},
      {R"('/a\b')", R"(path must be a request target such as "/healthz": "/a\\b" contains a backslash)"},
      {R"("/a<b>")", R"(path must be a request target such as "/healthz": "/a<b>" contains "<")"},
      {R"("/a%zz")",
       R"(path must be a request target such as "/healthz": "/a%zz" has a "%" that is not followed by two hex digits)"},
      {R"("/a%2")",
       R"(path must be a request target such as "/healthz": "/a%2" has a "%" that is not followed by two hex digits)"},
      {R"("healthz")", R"(path must start with "/", not "healthz")"},
      {R"("")", R"(path must start with "/", not "")"},
      {"1", "path must be a string"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.value);
    const ConfigError error = must_fail(with_check(std::string("{ path = ") + c.value + " }"));
    // "check = { path = " is 17 characters, so the value starts at column 18.
    CHECK(where(error) == "2:18");
    CHECK(error.message == c.message);
  }
}

TEST_CASE("a check host may be a name, an IPv4 or a bracketed IPv6 address, with a port") {
  const char* const hosts[] = {"api.internal", "api.internal:8080", "10.0.0.1", "10.0.0.1:80", "[::1]",
                               "[fe80::1]:8080", "my_host-1", "xn--bcher-kva.example"};
  for (const char* host : hosts) {
    CAPTURE(host);
    CHECK(load_check(std::string("{ host = \"") + host + "\" }").host == host);
  }
  // Empty keeps its meaning: the server's own address.
  CHECK(load_check(R"({ host = "" })").host.empty());
}

TEST_CASE("a check host that would inject headers or is not a host is refused") {
  struct Case {
    const char* value;
    const char* why;
  };
  const Case cases[] = {
      {R"("api\r\nX-Evil: 1")", R"("api\r\nX-Evil: 1" contains a carriage return)"},
      {R"("api\nX-Evil: 1")", R"("api\nX-Evil: 1" contains a line feed)"},
      {R"("api internal")", R"("api internal" contains a space)"},
      {R"("api\u0001")", R"("api\u0001" contains the control byte 0x01)"},
      {R"("bücher.example")", R"("bücher.example" contains the non-ASCII byte 0xC3 (percent-encode it))"},
      {R"("api/internal")", R"("api/internal" contains "/")"},
      {R"("api@internal")", R"("api@internal" contains "@")"},
      {R"("api%4")", R"("api%4" has a "%" that is not followed by two hex digits)"},
      {R"("[::1")", R"("[::1" has no "]" after the IPv6 address)"},
      {R"("[::1]x")", R"("[::1]x" has "x" after "]" instead of ":port")"},
      {R"("[::1] ")", R"("[::1] " has a space after "]" instead of ":port")"},
      {R"("[not-v6]")", R"("[not-v6]" is not an IPv6 address)"},
      {R"("::1")", R"("::1" is not a host and port (an IPv6 address must be written in brackets, as in "[::1]:8080"))"},
      {R"(":8080")", R"(":8080" has no host before ":")"},
      {R"("api:")", R"("api:" has no port after ":")"},
      {R"("api:http")", R"("api:http" has the port "http", which is not a number from 0 to 65535)"},
      {R"("api:65536")", R"("api:65536" has the port "65536", which is not a number from 0 to 65535)"},
      {R"("api:123456")", R"("api:123456" has the port "123456", which is not a number from 0 to 65535)"},
      {R"("[::1]:8 0")", R"("[::1]:8 0" has the port "8 0", which is not a number from 0 to 65535)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.value);
    const ConfigError error = must_fail(with_check(std::string("{ host = ") + c.value + " }"));
    // "check = { host = " is 17 characters, so the value starts at column 18.
    CHECK(where(error) == "2:18");
    CHECK(error.message ==
          std::string("host must be a host name or address with an optional port, such as \"api.internal:8080\": ") +
              c.why);
  }
  const ConfigError number = must_fail(with_check("{ host = 8080 }"));
  CHECK(where(number) == "2:18");
  CHECK(number.message == "host must be a string");
}
