#pragma once
// Everything a worker needs from one configuration: the config itself, route tables, the
// pre-built maintenance answers, and the registry entries (runtime state) its frontends, backends
// and servers are bound to. Immutable and shared read-only between workers (shared_ptr); a reload
// builds a new one, and a connection keeps the one it started with.
#include <memory>
#include <vector>

#include "haven/config/config.hpp"
#include "haven/fallback/maintenance.hpp"
#include "haven/proxy/tls_contexts.hpp"
#include "haven/routing/route_table.hpp"
#include "haven/state/registry.hpp"
#include "haven/upstream/server.hpp"

namespace haven::proxy {

struct Snapshot {
  Snapshot(std::shared_ptr<const config::Config> config_in, fallback::MaintenanceResponses maintenance_in,
           const state::Binding& binding, TlsContexts tls_in = {});

  const std::shared_ptr<const config::Config> config;
  std::vector<routing::RouteTable> routes;                   // per frontend, same order
  std::vector<std::unique_ptr<upstream::Backend>> backends;  // same order as config->backends
  const fallback::MaintenanceResponses maintenance;
  const std::vector<std::shared_ptr<state::FrontendRuntime>> frontends;  // same order as config->frontends
  const TlsContexts tls;  // a frontend's or backend's is nullptr when it speaks no TLS
};

}  // namespace haven::proxy
