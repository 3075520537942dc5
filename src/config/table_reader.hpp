#pragma once
// Position-aware, typed reading of toml++ tables, shared by the section readers. Every refusal points
// at the offending value; a missing key is reported at the table that should hold it.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "haven/config/config.hpp"

namespace haven::config::detail {

using KeyList = std::span<const std::string_view>;

// Keeps the first refusal. Readers return false as soon as one is recorded, so loading stops at the
// first problem and the operator gets one precise message rather than a cascade.
class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}

  // Records `message` at `where` unless a problem is already recorded; always returns false so that
  // callers can write `return errors.fail(...)`.
  bool fail(const toml::source_region& where, std::string message);
  bool fail(const toml::node& where, std::string message) { return fail(where.source(), std::move(message)); }

  [[nodiscard]] const std::string& file() const { return file_; }
  // Precondition: fail() was called.
  [[nodiscard]] const ConfigError& error() const { return *first_; }

 private:
  std::string file_;
  std::optional<ConfigError> first_;
};

// Single-node checks, for array elements and for values already found. `what` names the value in
// messages ("bind", "each entry of poll").
bool expect_string(Errors& errors, const toml::node& node, std::string_view what, std::string& out);
bool expect_table(Errors& errors, const toml::node& node, std::string_view what, const toml::table*& out);
// `min` of zero accepts "0s"; otherwise shorter durations are refused, and so are longer ones than `max`.
bool expect_duration(Errors& errors, const toml::node& node, std::string_view what, Duration min, Duration max,
                     Duration& out);

// One TOML table and the words that describe it in messages (`where`: "in backend \"api\"").
// Every read_* leaves `out` untouched when the key is absent, so struct defaults stay in force.
// The table must outlive the reader.
class TableReader {
 public:
  TableReader(Errors& errors, const toml::table& table, std::string where)
      : errors_(errors), table_(table), where_(std::move(where)) {}

  // Refuses keys outside `allowed`, suggesting the closest allowed one.
  bool allow_only(KeyList allowed) const;

  [[nodiscard]] const toml::node* find(std::string_view key) const;
  // Fails at the table itself when `key` is absent.
  bool require(std::string_view key, std::string message) const;

  bool read_string(std::string_view key, std::string& out) const;
  bool read_bool(std::string_view key, bool& out) const;
  bool read_integer(std::string_view key, std::int64_t min, std::int64_t max, std::int64_t& out) const;
  template <typename Int>
  bool read_int(std::string_view key, std::int64_t min, std::int64_t max, Int& out) const {
    std::int64_t value = 0;
    if (find(key) == nullptr) return true;
    if (!read_integer(key, min, max, value)) return false;
    out = static_cast<Int>(value);
    return true;
  }
  bool read_duration(std::string_view key, Duration min, Duration max, Duration& out) const;
  // Any duration from `min` up.
  bool read_duration(std::string_view key, Duration min, Duration& out) const {
    return read_duration(key, min, Duration::max(), out);
  }
  // A byte size: "512KiB", "1MiB", "2GiB", "100B" (or a bare integer of bytes), from min to max.
  bool read_byte_size(std::string_view key, std::uint64_t min, std::uint64_t max, std::uint64_t& out) const;
  // A string that must be one of `choices`.
  bool read_choice(std::string_view key, KeyList choices, std::string& out) const;
  // An array of strings; `nodes`, when given, receives each element for later positioned errors.
  bool read_strings(std::string_view key, std::vector<std::string>& out,
                    std::vector<const toml::node*>* nodes = nullptr) const;
  // `out` is nullptr when the key is absent.
  bool read_table(std::string_view key, const toml::table*& out) const;
  bool read_array(std::string_view key, const toml::array*& out) const;

  bool fail_at_table(std::string message) const { return errors_.fail(table_, std::move(message)); }
  [[nodiscard]] Errors& errors() const { return errors_; }
  [[nodiscard]] const toml::table& table() const { return table_; }
  [[nodiscard]] const std::string& where() const { return where_; }

 private:
  Errors& errors_;
  const toml::table& table_;
  std::string where_;
};

}  // namespace haven::config::detail
