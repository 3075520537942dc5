#include "haven/proxy/client_table.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <doctest/doctest.h>

using namespace haven::proxy;

namespace {

ClientKey v4(std::uint32_t address) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(address);
  return *ClientKey::from(reinterpret_cast<const sockaddr*>(&in));
}

}  // namespace

TEST_CASE("a client address holds at most `limit` connections; others are unaffected") {
  ClientTable table(2);
  const ClientKey a = v4(0x7f000001);
  const ClientKey b = v4(0x7f000002);
  CHECK(table.admit(a, 0).admitted);
  CHECK(table.admit(a, 0).admitted);
  const auto refused = table.admit(a, 0);
  CHECK_FALSE(refused.admitted);
  CHECK(refused.warn);
  CHECK(refused.refused_since_warning == 1);
  CHECK(table.admit(b, 0).admitted);
  table.release(a);
  CHECK(table.admit(a, 0).admitted);
  CHECK(table.connections_of(a) == 2);
  CHECK(table.connections_of(b) == 1);
}

TEST_CASE("refusals are reported once a minute per client, with the count since the last report") {
  ClientTable table(1);
  const ClientKey a = v4(0x0a000001);
  CHECK(table.admit(a, 1000).admitted);
  CHECK(table.admit(a, 1000).warn);
  CHECK_FALSE(table.admit(a, 2000).warn);
  CHECK_FALSE(table.admit(a, 60999).warn);
  const auto later = table.admit(a, 61000);
  CHECK(later.warn);
  CHECK(later.refused_since_warning == 3);
}

TEST_CASE("a limit of 0 counts nothing") {
  ClientTable table(0);
  const ClientKey a = v4(1);
  for (int i = 0; i < 100; ++i) CHECK(table.admit(a, 0).admitted);
  CHECK(table.connections_of(a) == 0);
}

TEST_CASE("the last connection's close forgets the address") {
  ClientTable table(3);
  const ClientKey a = v4(5);
  table.admit(a, 0);
  table.release(a);
  CHECK(table.connections_of(a) == 0);
  table.release(a);  // an unknown address is ignored
  CHECK(table.connections_of(a) == 0);
}

TEST_CASE("an IPv6 client is its /64; a v4-mapped address is its IPv4 client") {
  const auto v6 = [](const char* text) {
    sockaddr_in6 in{};
    in.sin6_family = AF_INET6;
    REQUIRE(inet_pton(AF_INET6, text, &in.sin6_addr) == 1);
    return *ClientKey::from(reinterpret_cast<const sockaddr*>(&in));
  };
  CHECK(v6("2001:db8:1:2::1") == v6("2001:db8:1:2:ffff::9"));
  CHECK_FALSE(v6("2001:db8:1:2::1") == v6("2001:db8:1:3::1"));
  CHECK(v6("::ffff:127.0.0.1") == v4(0x7f000001));
  CHECK_FALSE(v6("::ffff:127.0.0.1") == v4(0x7f000002));
}
