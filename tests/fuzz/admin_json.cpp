// JSON as the admin API reads it (PATCH bodies) and as `haven ctl` reads the API's answers.
// Whatever the bytes: no crash, no unbounded recursion; a document that is accepted reads the
// same after being written out again (escapes, surrogate pairs, numbers); a body accepted as an
// API object is a document accepted by the general reader too, with only flat members.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "haven/admin/json_body.hpp"
#include "haven/core/json_document.hpp"
#include "haven/core/json_text.hpp"
#include "require.hpp"

namespace {

using haven::core::JsonNode;
using haven::fuzz::require;

void write(std::string& out, const JsonNode& node) {
  switch (node.kind()) {
    case JsonNode::Kind::Null:
      out += "null";
      return;
    case JsonNode::Kind::Boolean:
      out += node.boolean() ? "true" : "false";
      return;
    case JsonNode::Kind::Number:
      out += fmt::format("{}", node.number());  // shortest text that reads back to the same double
      return;
    case JsonNode::Kind::String:
      haven::core::append_json_string(out, node.text());
      return;
    case JsonNode::Kind::Array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : node.items()) {
        if (!first) out.push_back(',');
        first = false;
        write(out, item);
      }
      out.push_back(']');
      return;
    }
    case JsonNode::Kind::Object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [key, value] : node.members()) {
        if (!first) out.push_back(',');
        first = false;
        haven::core::append_json_string(out, key);
        out.push_back(':');
        write(out, value);
      }
      out.push_back('}');
      return;
    }
  }
}

bool same(const JsonNode& a, const JsonNode& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case JsonNode::Kind::Null:
      return true;
    case JsonNode::Kind::Boolean:
      return a.boolean() == b.boolean();
    case JsonNode::Kind::Number:
      return a.number() == b.number();
    case JsonNode::Kind::String:
      return a.text() == b.text();
    case JsonNode::Kind::Array:
      if (a.items().size() != b.items().size()) return false;
      for (std::size_t i = 0; i < a.items().size(); ++i) {
        if (!same(a.items()[i], b.items()[i])) return false;
      }
      return true;
    case JsonNode::Kind::Object:
      if (a.members().size() != b.members().size()) return false;
      for (std::size_t i = 0; i < a.members().size(); ++i) {
        if (a.members()[i].first != b.members()[i].first || !same(a.members()[i].second, b.members()[i].second)) {
          return false;
        }
      }
      return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto document = haven::core::parse_json(text, error);
  require(document.has_value() == error.empty());
  if (document) {
    std::string written;
    write(written, *document);
    std::string again_error;
    const auto again = haven::core::parse_json(written, again_error);
    require(again.has_value());
    require(same(*document, *again));
  }
  const haven::admin::JsonObject body = haven::admin::parse_json_object(text);
  if (body.error.empty()) {
    require(document.has_value() && document->kind() == JsonNode::Kind::Object);
    require(body.members.size() <= 32);
  } else {
    require(body.members.empty());
  }
  return 0;
}
