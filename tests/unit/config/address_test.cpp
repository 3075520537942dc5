#include "haven/config/loader.hpp"

#include <doctest/doctest.h>

using haven::config::Address;
using haven::config::parse_address;
using haven::config::parse_bind_address;

namespace {

// The `why` text of a refused address; the address argument itself must stay untouched.
std::string refusal(std::string_view text) {
  Address address;
  address.host = "untouched";
  std::string why;
  CHECK_FALSE(parse_address(text, address, why));
  CHECK(address.host == "untouched");
  return why;
}

}  // namespace

TEST_CASE("IPv4 addresses") {
  Address address;
  std::string why;
  REQUIRE(parse_address("127.0.0.1:8080", address, why));
  CHECK(address.host == "127.0.0.1");
  CHECK(address.port == 8080);
  CHECK_FALSE(address.is_ipv6);
  CHECK(address.text == "127.0.0.1:8080");

  REQUIRE(parse_address("0.0.0.0:1", address, why));
  CHECK(address.host == "0.0.0.0");
  CHECK(address.port == 1);
  REQUIRE(parse_address("255.255.255.255:65535", address, why));
  CHECK(address.port == 65535);
}

TEST_CASE("IPv6 addresses are bracketed") {
  Address address;
  std::string why;
  REQUIRE(parse_address("[::1]:8080", address, why));
  CHECK(address.host == "::1");
  CHECK(address.port == 8080);
  CHECK(address.is_ipv6);
  CHECK(address.text == "[::1]:8080");

  REQUIRE(parse_address("[2001:db8::10]:443", address, why));
  CHECK(address.host == "2001:db8::10");
  CHECK(address.is_ipv6);

  CHECK(refusal("::1:8080") ==
        "bad address \"::1:8080\": an IPv6 address must be written in brackets, as in \"[::1]:8080\"");
  CHECK(refusal("[::1]") == "bad address \"[::1]\": missing \":port\"");
  CHECK(refusal("[::1]8080") == "bad address \"[::1]8080\": expected \":port\" after \"]\"");
  CHECK(refusal("[::1:8080") == "bad address \"[::1:8080\": missing \"]\" after the IPv6 address");
  CHECK(refusal("[10.0.0.1]:80") == "bad address \"[10.0.0.1]:80\": \"10.0.0.1\" is not an IPv6 address");
}

TEST_CASE("host names are resolved once to a numeric address") {
  Address address;
  std::string why;
  REQUIRE_MESSAGE(parse_address("localhost:80", address, why), why);
  CHECK((address.host == "127.0.0.1" || address.host == "::1"));
  CHECK(address.is_ipv6 == (address.host == "::1"));
  CHECK(address.port == 80);
  CHECK(address.text == "localhost:80");
}

TEST_CASE("ports") {
  CHECK(refusal("10.0.0.1") == "bad address \"10.0.0.1\": missing \":port\"");
  CHECK(refusal("10.0.0.1:") == "bad address \"10.0.0.1:\": missing port after \":\"");
  CHECK(refusal("10.0.0.1:70000") == "bad address \"10.0.0.1:70000\": port 70000 is out of range (1-65535)");
  CHECK(refusal("10.0.0.1:99999999999999999999") ==
        "bad address \"10.0.0.1:99999999999999999999\": port 99999999999999999999 is out of range (1-65535)");
  CHECK(refusal("10.0.0.1:0") == "bad address \"10.0.0.1:0\": port 0 is out of range (1-65535)");
  CHECK(refusal("10.0.0.1:http") == "bad address \"10.0.0.1:http\": port \"http\" is not a number");
  CHECK(refusal("10.0.0.1:-1") == "bad address \"10.0.0.1:-1\": port \"-1\" is not a number");
}

TEST_CASE("a bind address may use port 0, and only that differs from a server address") {
  Address address;
  std::string why;
  REQUIRE(parse_bind_address("127.0.0.1:0", address, why));
  CHECK(address.port == 0);
  REQUIRE(parse_bind_address("[::]:8080", address, why));
  CHECK(address.host == "::");
  CHECK(address.port == 8080);
  CHECK_FALSE(parse_bind_address("127.0.0.1:65536", address, why));
  CHECK(why == "bad address \"127.0.0.1:65536\": port 65536 is out of range (0-65535)");
  CHECK_FALSE(parse_bind_address("127.0.0.1", address, why));
  CHECK(why == "bad address \"127.0.0.1\": missing \":port\"");
}

TEST_CASE("garbage hosts are refused without asking DNS") {
  CHECK(refusal("") == "bad address \"\": empty");
  CHECK(refusal(":80") == "bad address \":80\": missing host before \":port\"");
  CHECK(refusal("999.1.1.1:80") == "bad address \"999.1.1.1:80\": \"999.1.1.1\" is not an IPv4 address");
  CHECK(refusal("10.1:80") == "bad address \"10.1:80\": \"10.1\" is not an IPv4 address");
  CHECK(refusal("no such host:80") == "bad address \"no such host:80\": \"no such host\" is not a valid host name");
  CHECK(refusal("bad_host!:80") == "bad address \"bad_host!:80\": \"bad_host!\" is not a valid host name");
  CHECK(refusal("-leading.example:80") ==
        "bad address \"-leading.example:80\": \"-leading.example\" is not a valid host name");
  CHECK(refusal("double..dot:80") == "bad address \"double..dot:80\": \"double..dot\" is not a valid host name");
}
