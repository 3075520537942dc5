#include "table_reader.hpp"

#include <fmt/format.h>

#include "suggest.hpp"

namespace haven::config::detail {

namespace {

bool is_bare_number(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if ((c < '0' || c > '9') && c != '.') return false;
  }
  return true;
}

}  // namespace

bool Errors::fail(const toml::source_region& where, std::string message) {
  if (first_) return false;
  // Nodes that toml++ did not read from text (none today) carry 0:0; the start of the file is the
  // most useful place to send the reader then.
  const int line = where.begin.line == 0 ? 1 : static_cast<int>(where.begin.line);
  const int column = where.begin.line == 0 ? 1 : static_cast<int>(where.begin.column);
  first_ = ConfigError{file_, line, column, std::move(message)};
  return false;
}

bool expect_string(Errors& errors, const toml::node& node, std::string_view what, std::string& out) {
  const auto* value = node.as_string();
  if (value == nullptr) return errors.fail(node, fmt::format("{} must be a string", what));
  out = value->get();
  return true;
}

bool expect_table(Errors& errors, const toml::node& node, std::string_view what, const toml::table*& out) {
  out = node.as_table();
  if (out == nullptr) return errors.fail(node, fmt::format("{} must be a table", what));
  return true;
}

bool expect_duration(Errors& errors, const toml::node& node, std::string_view what, Duration min, Duration max,
                     Duration& out) {
  const auto* value = node.as_string();
  if (value == nullptr) {
    if (node.is_number()) {
      return errors.fail(node, fmt::format("{} must be a duration with a unit, such as \"2s\", not a bare number",
                                           what));
    }
    return errors.fail(node, fmt::format("{} must be a duration string, such as \"2s\"", what));
  }
  const std::string& text = value->get();
  const auto parsed = core::parse_duration(text);
  if (!parsed) {
    if (is_bare_number(text)) {
      return errors.fail(node, fmt::format("duration \"{}\" needs a unit (ms, s, m or h)", text));
    }
    return errors.fail(node, fmt::format("bad duration \"{}\": write a number followed by ms, s, m or h", text));
  }
  if (*parsed < min) {
    if (min == Duration(1)) return errors.fail(node, fmt::format("{} must be greater than 0", what));
    return errors.fail(node, fmt::format("{} must be at least {}", what, core::format_duration(min)));
  }
  if (*parsed > max) {
    return errors.fail(node, fmt::format("{} must be at most {}", what, core::format_duration(max)));
  }
  out = *parsed;
  return true;
}

bool TableReader::allow_only(KeyList allowed) const {
  for (auto&& [key, value] : table_) {
    const std::string_view name = key.str();
    bool known = false;
    for (const std::string_view candidate : allowed) known = known || candidate == name;
    if (!known) {
      return errors_.fail(key.source(), fmt::format("unknown key \"{}\" {}{}", name, where_,
                                                    did_you_mean(name, allowed)));
    }
  }
  return true;
}

const toml::node* TableReader::find(std::string_view key) const { return table_.get(key); }

bool TableReader::require(std::string_view key, std::string message) const {
  if (find(key) != nullptr) return true;
  return fail_at_table(std::move(message));
}

bool TableReader::read_string(std::string_view key, std::string& out) const {
  const toml::node* node = find(key);
  return node == nullptr || expect_string(errors_, *node, key, out);
}

bool TableReader::read_bool(std::string_view key, bool& out) const {
  const toml::node* node = find(key);
  if (node == nullptr) return true;
  const auto* value = node->as_boolean();
  if (value == nullptr) return errors_.fail(*node, fmt::format("{} must be true or false", key));
  out = value->get();
  return true;
}

bool TableReader::read_integer(std::string_view key, std::int64_t min, std::int64_t max,
                               std::int64_t& out) const {
  const toml::node* node = find(key);
  if (node == nullptr) return true;
  const auto* value = node->as_integer();
  if (value == nullptr) return errors_.fail(*node, fmt::format("{} must be an integer", key));
  const std::int64_t number = value->get();
  if (number < min || number > max) {
    return errors_.fail(*node, fmt::format("{} must be between {} and {}, not {}", key, min, max, number));
  }
  out = number;
  return true;
}

bool TableReader::read_duration(std::string_view key, Duration min, Duration max, Duration& out) const {
  const toml::node* node = find(key);
  return node == nullptr || expect_duration(errors_, *node, key, min, max, out);
}

bool TableReader::read_byte_size(std::string_view key, std::uint64_t min, std::uint64_t max, std::uint64_t& out) const {
  const toml::node* node = find(key);
  if (node == nullptr) return true;
  const auto fail = [&](std::string_view shown) {
    return errors_.fail(*node, fmt::format("{} must be a size such as \"1MiB\" (B, KiB, MiB or GiB) from {} to {} "
                                           "bytes, not {}",
                                           key, min, max, shown));
  };
  if (const auto* integer = node->as_integer()) {
    const std::int64_t value = integer->get();
    if (value < 0 || static_cast<std::uint64_t>(value) < min || static_cast<std::uint64_t>(value) > max) {
      return fail(std::to_string(value));
    }
    out = static_cast<std::uint64_t>(value);
    return true;
  }
  std::string text;
  if (!expect_string(errors_, *node, key, text)) return false;
  std::uint64_t number = 0;
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9' && number < (1ULL << 40)) {
    number = number * 10 + static_cast<std::uint64_t>(text[i++] - '0');
  }
  const std::string_view unit = std::string_view(text).substr(i);
  const std::uint64_t scale = unit == "B"     ? 1
                              : unit == "KiB" ? 1ULL << 10
                              : unit == "MiB" ? 1ULL << 20
                              : unit == "GiB" ? 1ULL << 30
                                              : 0;
  if (i == 0 || scale == 0 || number >= (1ULL << 40) || number * scale < min || number * scale > max) {
    return fail(fmt::format("\"{}\"", text));
  }
  out = number * scale;
  return true;
}

bool TableReader::read_choice(std::string_view key, KeyList choices, std::string& out) const {
  const toml::node* node = find(key);
  if (node == nullptr) return true;
  std::string value;
  if (!expect_string(errors_, *node, key, value)) return false;
  for (const std::string_view choice : choices) {
    if (choice == value) {
      out = std::move(value);
      return true;
    }
  }
  std::string listed;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) listed += i + 1 == choices.size() ? " or " : ", ";
    listed += fmt::format("\"{}\"", choices[i]);
  }
  return errors_.fail(*node, fmt::format("{} must be {}, not \"{}\"{}", key, listed, value,
                                         did_you_mean(value, choices)));
}

bool TableReader::read_strings(std::string_view key, std::vector<std::string>& out,
                               std::vector<const toml::node*>* nodes) const {
  const toml::array* array = nullptr;
  if (!read_array(key, array)) return false;
  if (array == nullptr) return true;
  std::vector<std::string> values;
  const std::string what = fmt::format("each entry of {}", key);
  for (const toml::node& element : *array) {
    std::string value;
    if (!expect_string(errors_, element, what, value)) return false;
    values.push_back(std::move(value));
    if (nodes != nullptr) nodes->push_back(&element);
  }
  out = std::move(values);
  return true;
}

bool TableReader::read_table(std::string_view key, const toml::table*& out) const {
  out = nullptr;
  const toml::node* node = find(key);
  return node == nullptr || expect_table(errors_, *node, key, out);
}

bool TableReader::read_array(std::string_view key, const toml::array*& out) const {
  out = nullptr;
  const toml::node* node = find(key);
  if (node == nullptr) return true;
  out = node->as_array();
  if (out == nullptr) return errors_.fail(*node, fmt::format("{} must be an array", key));
  return true;
}

}  // namespace haven::config::detail
