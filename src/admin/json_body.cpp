#include "haven/admin/json_body.hpp"

#include <cmath>

#include "haven/core/json_document.hpp"

namespace haven::admin {

JsonObject parse_json_object(std::string_view text) {
  JsonObject result;
  constexpr std::size_t kMaxMembers = 32;
  std::string error;
  const auto document = core::parse_json(text, error);
  if (!document) {
    result.error = error;
    return result;
  }
  if (document->kind() != core::JsonNode::Kind::Object) {
    result.error = "the body must be a JSON object";
    return result;
  }
  if (document->members().size() > kMaxMembers) {
    result.error = "too many members";
    return result;
  }
  for (const auto& [key, node] : document->members()) {
    JsonValue value;
    switch (node.kind()) {
      case core::JsonNode::Kind::String:
        value.kind = JsonValue::Kind::String;
        value.text = node.text();
        break;
      case core::JsonNode::Kind::Number: {
        const double number = node.number();
        // Checked before the conversion: a double beyond int64's range does not convert.
        if (number != std::floor(number) || std::fabs(number) > 1e9) {
          result.error = "member \"" + key + "\": only whole numbers up to a billion are accepted";
          break;
        }
        value.kind = JsonValue::Kind::Integer;
        value.integer = static_cast<std::int64_t>(number);
        break;
      }
      case core::JsonNode::Kind::Boolean:
        value.kind = JsonValue::Kind::Boolean;
        value.boolean = node.boolean();
        break;
      case core::JsonNode::Kind::Null:
        value.kind = JsonValue::Kind::Null;
        break;
      case core::JsonNode::Kind::Array:
      case core::JsonNode::Kind::Object:
        result.error = "member \"" + key + "\": objects and arrays are not accepted";
        break;
    }
    if (!result.error.empty()) break;
    if (!result.members.emplace(key, std::move(value)).second) {
      result.error = "member \"" + key + "\" appears twice";
      break;
    }
  }
  if (!result.error.empty()) result.members.clear();
  return result;
}

}  // namespace haven::admin
