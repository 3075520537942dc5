#include "haven/tls/server_context.hpp"

#include <doctest/doctest.h>

using haven::tls::name_matches;

TEST_CASE("a certificate name matches a host name without regard to case") {
  CHECK(name_matches("example.org", "example.org"));
  CHECK(name_matches("Example.ORG", "example.org"));
  CHECK(name_matches("example.org", "example.org."));  // an absolute name
  CHECK_FALSE(name_matches("example.org", "www.example.org"));
  CHECK_FALSE(name_matches("example.org", "example.com"));
  CHECK_FALSE(name_matches("example.org", ""));
}

TEST_CASE("a wildcard stands for exactly one leftmost label") {
  CHECK(name_matches("*.example.org", "www.example.org"));
  CHECK(name_matches("*.example.org", "API.Example.org"));
  CHECK_FALSE(name_matches("*.example.org", "example.org"));
  CHECK_FALSE(name_matches("*.example.org", "a.b.example.org"));
  CHECK_FALSE(name_matches("*.example.org", ".example.org"));
  CHECK_FALSE(name_matches("*.example.org", "wwwexample.org"));
  // Only a whole leftmost label may be a wildcard.
  CHECK_FALSE(name_matches("w*.example.org", "www.example.org"));
  CHECK_FALSE(name_matches("*", "localhost"));
}
