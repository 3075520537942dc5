// [frontends.NAME.tls], redirect_https, hsts and the backends' `tls`: what loads, and each refusal
// at its place. Certificate contents are the tls module's business; here a file only has to be
// readable (/etc/os-release stands in for one).
#include <string>

#include <doctest/doctest.h>

#include "config_test_support.hpp"

using namespace haven::config;
using haven::config::test::contains;
using haven::config::test::must_fail;
using haven::config::test::must_load;
using haven::config::test::where;

namespace {

constexpr std::string_view kBackend = R"(
[backends.app]
servers = [ { name = "a", address = "127.0.0.1:9" } ]
)";

std::string with_frontend(std::string_view frontend) {
  return std::string("[frontends.web]\nbind = \"127.0.0.1:0\"\ndefault_backend = \"app\"\n") + std::string(frontend) +
         std::string(kBackend);
}

}  // namespace

TEST_CASE("a tls table with its defaults") {
  const Config config = must_load(with_frontend(R"(
[frontends.web.tls]
certificates = [ { cert = "/etc/os-release", key = "/etc/os-release" } ]
)"));
  const FrontendTls& tls = config.frontends[0].tls;
  REQUIRE(tls.enabled());
  CHECK(tls.certificates[0].cert == "/etc/os-release");
  CHECK(tls.certificates[0].at.line == 6);
  CHECK_FALSE(tls.strict_sni);
  CHECK(tls.min_version == TlsVersion::Tls12);
  CHECK(tls.ciphers == kDefaultTls12Ciphers);
  CHECK(tls.alpn == std::vector<std::string>{"http/1.1"});
  CHECK(config.frontends[0].timeouts.tls_handshake == Duration(10000));
}

TEST_CASE("tls settings are read") {
  const Config config = must_load(with_frontend(R"(hsts = "max-age=600; includeSubDomains"
timeouts = { tls_handshake = "3s" }
[frontends.web.tls]
certificates = [ { cert = "/etc/os-release", key = "/etc/os-release", ocsp = "/etc/os-release" } ]
strict_sni = true
min_version = "TLSv1.3"
ciphersuites = "TLS_AES_256_GCM_SHA384"
)"));
  const Frontend& frontend = config.frontends[0];
  CHECK(frontend.tls.strict_sni);
  CHECK(frontend.tls.min_version == TlsVersion::Tls13);
  CHECK(frontend.tls.ciphersuites == "TLS_AES_256_GCM_SHA384");
  CHECK(frontend.tls.ciphersuites_at.line == 10);
  CHECK(frontend.tls.certificates[0].ocsp == "/etc/os-release");
  CHECK(frontend.hsts == "max-age=600; includeSubDomains");
  CHECK(frontend.timeouts.tls_handshake == Duration(3000));
}

TEST_CASE("tls refusals name their place") {
  SUBCASE("no certificates") {
    const ConfigError error = must_fail(with_frontend("[frontends.web.tls]\ncertificates = []\n"));
    CHECK(where(error) == "5:16");
    CHECK(error.message == "certificates must list at least one certificate");
  }
  SUBCASE("a certificate without its key") {
    const ConfigError error = must_fail(with_frontend("[frontends.web.tls]\ncertificates = [ { cert = \"/etc/os-release\" } ]\n"));
    CHECK(contains(error.message, "each certificate needs \"key\""));
  }
  SUBCASE("a certificate file that is not there") {
    const ConfigError error =
        must_fail(with_frontend("[frontends.web.tls]\ncertificates = [ { cert = \"/nonexistent.pem\", key = \"/etc/os-release\" } ]\n"));
    CHECK(where(error) == "5:27");
    CHECK(contains(error.message, "certificate \"/nonexistent.pem\" does not exist"));
  }
  SUBCASE("an old protocol") {
    const ConfigError error = must_fail(with_frontend(
        "[frontends.web.tls]\ncertificates = [ { cert = \"/etc/os-release\", key = \"/etc/os-release\" } ]\n"
        "min_version = \"TLSv1.1\"\n"));
    CHECK(where(error) == "6:15");
  }
  SUBCASE("a protocol haven does not speak in alpn") {
    const ConfigError error = must_fail(with_frontend(
        "[frontends.web.tls]\ncertificates = [ { cert = \"/etc/os-release\", key = \"/etc/os-release\" } ]\n"
        "alpn = [\"h2\", \"http/1.1\"]\n"));
    CHECK(where(error) == "6:9");
    CHECK(contains(error.message, "\"h2\" is not supported"));
  }
  SUBCASE("redirect_https on a TLS frontend") {
    const ConfigError error = must_fail(with_frontend(
        "redirect_https = true\n[frontends.web.tls]\ncertificates = [ { cert = \"/etc/os-release\", key = \"/etc/os-release\" } ]\n"));
    CHECK(where(error) == "4:18");
  }
  SUBCASE("hsts without TLS") {
    const ConfigError error = must_fail(with_frontend("hsts = \"max-age=60\"\n"));
    CHECK(where(error) == "4:8");
    CHECK(contains(error.message, "hsts is sent on TLS frontends only"));
  }
  SUBCASE("hsts that could end the header line") {
    const ConfigError error = must_fail(with_frontend(
        "hsts = \"max-age=60\\r\\nSet-Cookie: x=1\"\n[frontends.web.tls]\n"
        "certificates = [ { cert = \"/etc/os-release\", key = \"/etc/os-release\" } ]\n"));
    CHECK(contains(error.message, "hsts must be a Strict-Transport-Security value"));
  }
}

TEST_CASE("redirect_https with its port") {
  const Config config = must_load(with_frontend("redirect_https = true\nhttps_port = 8443\n"));
  CHECK(config.frontends[0].redirect_https);
  CHECK(config.frontends[0].https_port == 8443);
}

TEST_CASE("TLS to servers: a backend's tls, a server's opt-out and names") {
  const Config config = must_load(R"(
[frontends.web]
bind = "127.0.0.1:0"
default_backend = "app"

[backends.app]
servers = [
  { name = "a", address = "127.0.0.1:9" },
  { name = "b", address = "localhost:9", sni = "b.internal" },
  { name = "c", address = "127.0.0.1:8", tls = false },
]
[backends.app.tls]
ca_file = "/etc/os-release"
verify = true

[backends.named]
tls = { sni = "api.internal" }
servers = [ { name = "a", address = "127.0.0.1:7" } ]

[backends.plain]
servers = [ { name = "a", address = "127.0.0.1:6", tls = true } ]
)");
  const Backend& app = config.backends[0];
  CHECK(app.tls.ca_file == "/etc/os-release");
  CHECK(app.servers[0].tls);
  CHECK(app.servers[0].sni == "127.0.0.1");  // the host of the address as written
  CHECK(app.servers[1].sni == "b.internal");
  CHECK_FALSE(app.servers[2].tls);
  CHECK(app.any_tls());
  CHECK(config.backends[1].servers[0].sni == "api.internal");
  const Backend& plain = config.backends[2];
  CHECK(plain.servers[0].tls);  // a server may ask for TLS on its own
  CHECK(plain.tls.verify);
}

TEST_CASE("a client certificate needs its key") {
  const ConfigError error = must_fail(R"(
[frontends.web]
bind = "127.0.0.1:0"
default_backend = "app"
[backends.app]
tls = { cert = "/etc/os-release" }
servers = [ { name = "a", address = "127.0.0.1:9" } ]
)");
  CHECK(where(error) == "6:7");
  CHECK(error.message == "a client certificate needs both \"cert\" and \"key\"");
}
