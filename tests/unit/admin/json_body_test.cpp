#include "haven/admin/json_body.hpp"

#include <doctest/doctest.h>

using haven::admin::JsonValue;
using haven::admin::parse_json_object;

TEST_CASE("a flat object of strings, integers, booleans and null") {
  const auto parsed = parse_json_object(R"( {"state": "drain", "weight": 10, "on": true, "off": false, "none": null} )");
  REQUIRE(parsed.error.empty());
  CHECK(parsed.members.at("state").text == "drain");
  CHECK(parsed.members.at("weight").integer == 10);
  CHECK(parsed.members.at("on").boolean);
  CHECK(parsed.members.at("off").kind == JsonValue::Kind::Boolean);
  CHECK(parsed.members.at("none").kind == JsonValue::Kind::Null);
  CHECK(parse_json_object("{}").error.empty());
  CHECK(parse_json_object(R"({"a": "x\"y\\z\n"})").members.at("a").text == "x\"y\\z\n");
  CHECK(parse_json_object(R"({"w": -3})").members.at("w").integer == -3);
  CHECK(parse_json_object(R"({"a": "\u0041"})").members.at("a").text == "A");
}

TEST_CASE("anything else is refused with a reason") {
  for (const char* text : {"", "[]", "{", "{\"a\"}", "{\"a\":}", "{\"a\": 1,}", "{\"a\": 1} x", "{\"a\": {}}",
                           "{\"a\": [1]}", "{\"a\": 1.5}", "{\"a\": 01}", "{\"a\": 1, \"a\": 2}",
                           "{\"a\": 99999999999999}", "{\"a\": 1e30}", "{\"a\": -1e300}", "{'a': 1}", "{\"a\": tru}",
                           "{\"a\": \"line\nbreak\"}"}) {
    CAPTURE(text);
    const auto parsed = parse_json_object(text);
    CHECK_FALSE(parsed.error.empty());
    CHECK(parsed.members.empty());
  }
}
