#pragma once
// Everything a worker needs from one configuration: the config itself, route tables and the
// server runtime state. Shared read-only between workers (shared_ptr); a reload builds a new one
// and workers switch to it between connections.
#include <memory>
#include <vector>

#include "haven/config/config.hpp"
#include "haven/fallback/maintenance.hpp"
#include "haven/routing/route_table.hpp"
#include "haven/upstream/server.hpp"

namespace haven::proxy {

struct Snapshot {
  Snapshot(std::shared_ptr<const config::Config> config_in, fallback::MaintenanceResponses maintenance_in);

  std::shared_ptr<const config::Config> config;
  std::vector<routing::RouteTable> routes;                   // per frontend, same order
  std::vector<std::unique_ptr<upstream::Backend>> backends;  // same order as config->backends
  fallback::MaintenanceResponses maintenance;
};

}  // namespace haven::proxy
