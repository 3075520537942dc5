#include "haven/tls/ticket_keys.hpp"

#include <doctest/doctest.h>

using haven::tls::TicketKey;
using haven::tls::TicketKeys;

TEST_CASE("tickets made with the current key are found, and not stale") {
  TicketKeys keys;
  const TicketKey current = keys.current();
  TicketKey found;
  bool stale = true;
  REQUIRE(keys.find(current.name.data(), found, stale));
  CHECK_FALSE(stale);
  CHECK(found.aes_key == current.aes_key);
  CHECK(found.hmac_key == current.hmac_key);
}

TEST_CASE("after a rotation old tickets still resume, marked stale, until their key ages out") {
  TicketKeys keys;
  const TicketKey first = keys.current();
  keys.rotate();
  const TicketKey second = keys.current();
  CHECK(second.name != first.name);
  TicketKey found;
  bool stale = false;
  REQUIRE(keys.find(first.name.data(), found, stale));
  CHECK(stale);
  CHECK(found.aes_key == first.aes_key);
  for (std::size_t i = 1; i < TicketKeys::kKeep; ++i) keys.rotate();
  CHECK_FALSE(keys.find(first.name.data(), found, stale));  // kKeep rotations later: gone
  CHECK(keys.find(second.name.data(), found, stale));        // one younger: still there
}

TEST_CASE("a ticket under a name no key has is not found") {
  TicketKeys keys;
  std::array<unsigned char, 16> unknown{};
  TicketKey found;
  bool stale = false;
  CHECK_FALSE(keys.find(unknown.data(), found, stale));
}
