#include <array>

#include <fmt/format.h>

#include "sections.hpp"

namespace haven::config::detail {

bool read_stale_if_error(const TableReader& backend, std::string_view name, StaleIfError& out) {
  static constexpr std::array<std::string_view, 5> kKeys{"max_age", "max_entry", "max_total", "paths",
                                                         "stale_probe_interval"};
  out = StaleIfError{};
  const toml::table* table = nullptr;
  if (!backend.read_table("stale_if_error", table)) return false;
  if (table == nullptr) return true;
  const TableReader block(backend.errors(), *table, fmt::format("in the stale_if_error of backend \"{}\"", name));
  std::vector<const toml::node*> path_nodes;
  // A day is already far older than any page an operator would want shown as current.
  if (!block.allow_only(kKeys) ||
      !block.read_duration("max_age", Duration(1000), Duration(24LL * 3600 * 1000), out.max_age) ||
      !block.read_byte_size("max_entry", 1, 64ULL << 20, out.max_entry) ||
      !block.read_byte_size("max_total", 1024, 64ULL << 30, out.max_total) ||
      !block.read_strings("paths", out.paths, &path_nodes) ||
      !block.read_duration("stale_probe_interval", Duration(100), Duration(3600000), out.probe_interval)) {
    return false;
  }
  for (std::size_t i = 0; i < out.paths.size(); ++i) {
    if (out.paths[i].empty() || out.paths[i].front() != '/') {
      return block.errors().fail(*path_nodes[i],
                                 fmt::format("each of paths must start with \"/\", not \"{}\"", out.paths[i]));
    }
  }
  if (out.max_entry > out.max_total && block.find("max_entry") == nullptr) {
    out.max_entry = out.max_total;  // a small store: no single copy may be larger than all of it
  }
  if (out.max_entry > out.max_total) {
    return block.errors().fail(*block.find("max_entry"),
                               fmt::format("max_entry ({} bytes) is larger than max_total ({} bytes)", out.max_entry,
                                           out.max_total));
  }
  out.enabled = true;
  return true;
}

}  // namespace haven::config::detail
