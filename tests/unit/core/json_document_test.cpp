#include "haven/core/json_document.hpp"

#include <doctest/doctest.h>

using haven::core::JsonNode;
using haven::core::parse_json;

TEST_CASE("objects, arrays, strings, numbers, booleans and null") {
  std::string error;
  const auto doc = parse_json(R"({"a": [1, -2.5, 3e2], "b": {"c": "x\u00e9\n"}, "t": true, "n": null})", error);
  REQUIRE_MESSAGE(doc, error);
  CHECK((*doc)["a"].items().size() == 3);
  CHECK((*doc)["a"].items()[1].number() == -2.5);
  CHECK((*doc)["a"].items()[2].number() == 300);
  CHECK((*doc)["b"]["c"].text() == "x\xc3\xa9\n");
  CHECK((*doc)["t"].boolean());
  CHECK((*doc)["n"].is_null());
  CHECK((*doc)["missing"]["deeper"].is_null());
  CHECK((*doc)["a"].text("none") == "none");
}

TEST_CASE("what RFC 8259 refuses is refused, with where") {
  for (const char* text : {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "1e", "\"\\x\"", "\"\\ud800\"", "tru",
                           "{} {}", "\"a\nb\""}) {
    CAPTURE(text);
    std::string error;
    CHECK_FALSE(parse_json(text, error).has_value());
    CHECK(error.find("at byte") != std::string::npos);
  }
  std::string deep(100, '[');
  std::string error;
  CHECK_FALSE(parse_json(deep + std::string(100, ']'), error).has_value());
}
