// The [admin] table: where the admin listener binds and who may use it.
#include "haven/config/loader.hpp"

#include <doctest/doctest.h>

#include <string>

#include "config_test_support.hpp"

using namespace haven::config;
using haven::config::test::contains;
using haven::config::test::must_fail;
using haven::config::test::must_load;
using haven::config::test::where;

namespace {
constexpr std::string_view kRest = haven::config::test::kOneBackend;

std::string with_admin(std::string_view admin) { return std::string(admin) + std::string(kRest); }
}  // namespace

TEST_CASE("no [admin] table: no admin listener") {
  CHECK_FALSE(must_load(kRest).admin.enabled);
}

TEST_CASE("an empty [admin] table listens on 127.0.0.1:9000 without a token") {
  const Config config = must_load(with_admin("[admin]\n"));
  CHECK(config.admin.enabled);
  CHECK(config.admin.bind.host == "127.0.0.1");
  CHECK(config.admin.bind.port == 9000);
  CHECK(config.admin.token.empty());
  CHECK(config.admin.loopback_only());
}

TEST_CASE("a non-loopback admin bind without a token is refused where the bind is") {
  const ConfigError error = must_fail(with_admin("[admin]\nbind = \"0.0.0.0:9000\"\n"));
  CHECK(where(error) == "2:8");
  CHECK(contains(error.message, "needs a \"token\""));
  const Config config =
      must_load(with_admin("[admin]\nbind = \"0.0.0.0:9000\"\ntoken = \"0123456789abcdef-long\"\n"));
  CHECK_FALSE(config.admin.loopback_only());
  CHECK(config.admin.token == "0123456789abcdef-long");
}

TEST_CASE("::1 counts as local") {
  CHECK(must_load(with_admin("[admin]\nbind = \"[::1]:0\"\n")).admin.loopback_only());
  CHECK_FALSE(must_load(with_admin("[admin]\nbind = \"[::]:0\"\ntoken = \"0123456789abcdef\"\n")).admin.loopback_only());
}

TEST_CASE("a short or odd token is refused") {
  CHECK(contains(must_fail(with_admin("[admin]\ntoken = \"short\"\n")).message, "at least 16"));
  CHECK(contains(must_fail(with_admin("[admin]\ntoken = \"with a space inside it\"\n")).message, "printable"));
}

TEST_CASE("read_token_required needs a token") {
  const ConfigError error = must_fail(with_admin("[admin]\nread_token_required = true\n"));
  CHECK(where(error) == "2:23");
  CHECK(must_load(with_admin("[admin]\ntoken = \"0123456789abcdef\"\nread_token_required = true\n"))
            .admin.read_token_required);
}

TEST_CASE("a unix socket counts as local; a relative path is the config file's neighbour") {
  const Config absolute = must_load(with_admin("[admin]\nbind = \"unix:/run/haven/admin.sock\"\n"));
  CHECK(absolute.admin.unix_path == "/run/haven/admin.sock");
  CHECK(absolute.admin.loopback_only());
  const Config relative = must_load(with_admin("[admin]\nbind = \"unix:admin.sock\"\n"), "/etc/haven/haven.toml");
  CHECK(relative.admin.unix_path == "/etc/haven/admin.sock");
  CHECK(contains(must_fail(with_admin("[admin]\nbind = \"unix:\"\n")).message, "needs a path"));
  CHECK(contains(must_fail(with_admin("[admin]\nbind = \"unix:/" + std::string(120, 'x') + "\"\n")).message,
                 "107 bytes"));
}

TEST_CASE("healthy_when is serving by default, or running") {
  CHECK(must_load(with_admin("[admin]\n")).admin.healthy_needs_serving);
  CHECK_FALSE(must_load(with_admin("[admin]\nhealthy_when = \"running\"\n")).admin.healthy_needs_serving);
  const ConfigError error = must_fail(with_admin("[admin]\nhealthy_when = \"up\"\n"));
  CHECK(contains(error.message, "healthy_when must be \"running\" or \"serving\""));
}
