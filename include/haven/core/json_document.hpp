#pragma once
// A JSON document read whole into a tree (RFC 8259), for tools that read what haven's admin API
// writes (`haven ctl`). Bounded: nesting depth 64. Numbers are doubles.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace haven::core {

class JsonNode {
 public:
  enum class Kind : unsigned char { Null, Boolean, Number, String, Array, Object };

  [[nodiscard]] Kind kind() const { return kind_; }
  [[nodiscard]] bool is_null() const { return kind_ == Kind::Null; }
  // The member `key` of an object; a null node when absent or when this is not an object.
  [[nodiscard]] const JsonNode& operator[](std::string_view key) const;
  // The elements of an array (empty otherwise).
  [[nodiscard]] const std::vector<JsonNode>& items() const { return items_; }
  // The members of an object, in document order, duplicates included (empty otherwise).
  [[nodiscard]] const std::vector<std::pair<std::string, JsonNode>>& members() const { return members_; }
  [[nodiscard]] std::string text(std::string_view fallback = "") const;   // a string, or `fallback`
  [[nodiscard]] double number(double fallback = 0) const;                 // a number, or `fallback`
  [[nodiscard]] bool boolean(bool fallback = false) const;                // a boolean, or `fallback`

 private:
  friend class JsonParser;
  Kind kind_ = Kind::Null;
  bool boolean_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonNode> items_;
  std::vector<std::pair<std::string, JsonNode>> members_;
};

// The document, or nullopt with `error` set.
std::optional<JsonNode> parse_json(std::string_view text, std::string& error);

}  // namespace haven::core
