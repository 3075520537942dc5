#include <array>

#include "sections.hpp"

namespace haven::config::detail {

bool read_global(const TableReader& root, Global& out) {
  static constexpr std::array<std::string_view, 5> kKeys{"workers", "max_connections", "max_connections_per_client",
                                                         "max_status_subscribers", "status_heartbeat"};
  const toml::table* table = nullptr;
  if (!root.read_table("global", table)) return false;
  if (table == nullptr) return true;
  const TableReader global(root.errors(), *table, "in [global]");
  return global.allow_only(kKeys) &&
         global.read_int("workers", 0, 256, out.workers) &&
         global.read_int("max_connections", 1, 1000000, out.max_connections) &&
         global.read_int("max_connections_per_client", 0, 1000000, out.max_connections_per_client) &&
         global.read_int("max_status_subscribers", 0, 1000000, out.max_status_subscribers) &&
         global.read_duration("status_heartbeat", Duration(100), Duration(3600000), out.status_heartbeat);
}

}  // namespace haven::config::detail
