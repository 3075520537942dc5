#include <array>

#include "sections.hpp"

namespace haven::config::detail {

bool read_global(const TableReader& root, Global& out) {
  static constexpr std::array<std::string_view, 3> kKeys{"workers", "max_connections", "max_connections_per_client"};
  const toml::table* table = nullptr;
  if (!root.read_table("global", table)) return false;
  if (table == nullptr) return true;
  const TableReader global(root.errors(), *table, "in [global]");
  return global.allow_only(kKeys) &&
         global.read_int("workers", 0, 256, out.workers) &&
         global.read_int("max_connections", 1, 1000000, out.max_connections) &&
         global.read_int("max_connections_per_client", 0, 1000000, out.max_connections_per_client);
}

}  // namespace haven::config::detail
