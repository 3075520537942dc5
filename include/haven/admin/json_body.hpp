#pragma once
// The bodies the runtime API accepts: one JSON object (RFC 8259, read by core::parse_json) whose
// values are strings, whole numbers, booleans or null: no nesting, no member twice, at most 32.
// Anything else is an error with a plain sentence.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace haven::admin {

struct JsonValue {
  enum class Kind : std::uint8_t { String, Integer, Boolean, Null };
  Kind kind = Kind::Null;
  std::string text;          // String
  std::int64_t integer = 0;  // Integer
  bool boolean = false;      // Boolean
};

struct JsonObject {
  std::map<std::string, JsonValue, std::less<>> members;
  std::string error;  // "" when the text parsed
};

JsonObject parse_json_object(std::string_view text);

}  // namespace haven::admin
