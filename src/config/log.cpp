#include <array>

#include <fmt/format.h>

#include "sections.hpp"

namespace haven::config::detail {

namespace {

// An empty destination is refused rather than read as "off": switching logging off should be
// something the operator says, not something a blank string does.
bool read_destination(const TableReader& log, std::string_view key, std::string& out) {
  std::string value = out;
  if (!log.read_string(key, value)) return false;
  if (value.empty()) {
    return log.errors().fail(*log.find(key), fmt::format("{} must not be empty (write \"off\" to disable it)", key));
  }
  out = std::move(value);
  return true;
}

}  // namespace

bool read_log(const TableReader& root, Log& out) {
  static constexpr std::array<std::string_view, 3> kKeys{"access", "events", "format"};
  static constexpr std::array<std::string_view, 2> kFormats{"text", "json"};
  const toml::table* table = nullptr;
  if (!root.read_table("log", table)) return false;
  if (table == nullptr) return true;
  const TableReader log(root.errors(), *table, "in [log]");
  std::string format = out.format == LogFormat::Json ? "json" : "text";
  if (!log.allow_only(kKeys) || !read_destination(log, "access", out.access) ||
      !read_destination(log, "events", out.events) || !log.read_choice("format", kFormats, format)) {
    return false;
  }
  out.format = format == "json" ? LogFormat::Json : LogFormat::Text;
  return true;
}

}  // namespace haven::config::detail
