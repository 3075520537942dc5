#include "haven/core/duration.hpp"

#include <doctest/doctest.h>

using haven::core::Duration;
using haven::core::format_duration;
using haven::core::parse_duration;

TEST_CASE("durations need a unit") {
  CHECK(parse_duration("500ms") == Duration(500));
  CHECK(parse_duration("2s") == Duration(2000));
  CHECK(parse_duration("1m") == Duration(60000));
  CHECK(parse_duration("1h") == Duration(3600000));
  CHECK(parse_duration("1.5s") == Duration(1500));
  CHECK(parse_duration("0s") == Duration(0));
  CHECK_FALSE(parse_duration("5"));
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("5 s"));
  CHECK_FALSE(parse_duration("-5s"));
  CHECK_FALSE(parse_duration("5sec"));
  CHECK_FALSE(parse_duration("1.s"));
  CHECK_FALSE(parse_duration("99999999999s"));
}

TEST_CASE("durations render in their largest whole unit") {
  CHECK(format_duration(Duration(500)) == "500ms");
  CHECK(format_duration(Duration(2000)) == "2s");
  CHECK(format_duration(Duration(60000)) == "1m");
  CHECK(format_duration(Duration(3600000)) == "1h");
  CHECK(format_duration(Duration(1500)) == "1500ms");
}
