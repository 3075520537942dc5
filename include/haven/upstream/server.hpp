#pragma once
// A configured server and backend as one snapshot sees them: the immutable configuration, the
// resolved address, and the registry entry that holds the server's runtime state (health, admin
// state, weight, counters). A snapshot never changes; the entries it points to do.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "haven/config/config.hpp"
#include "haven/net/socket_address.hpp"
#include "haven/state/registry.hpp"
#include "haven/state/server_runtime.hpp"
#include "haven/tls/client_context.hpp"

namespace haven::upstream {

struct Server {
  Server(const config::Server& server_config, std::size_t backend, std::size_t index,
         std::shared_ptr<state::ServerRuntime> runtime);

  const config::Server& config;
  const std::size_t backend_index;
  const std::size_t index;        // position in the backend's declared order
  const std::shared_ptr<state::ServerRuntime> runtime_entry;
  state::ServerRuntime& runtime;  // *runtime_entry
  const std::string& id;          // "backend/server", for logs
  net::SocketAddress address;

  // Health allows traffic (UP and reachable), whatever the admin state.
  [[nodiscard]] bool healthy() const { return runtime.healthy(); }
  // May take new requests: healthy, READY, and a weight above 0.
  [[nodiscard]] bool serving() const { return runtime.serving() && weight() > 0; }
  [[nodiscard]] int weight() const {
    const int shifted = runtime.shift_weight();
    return shifted >= 0 ? shifted : runtime.effective_weight(config.weight);
  }
  // The weight without a shift: the operator's, else the configured one (a shift spreads its
  // group's share by these).
  [[nodiscard]] int base_weight() const { return runtime.effective_weight(config.weight); }
  // What the balancer weighs it with at `now_ms` (monotonic): weight() scaled by
  // state::kWeightScale, ramped while the backend's slow_start runs after the server came UP.
  [[nodiscard]] int balancer_weight(std::uint64_t now_ms, std::uint64_t slow_start_ms) const {
    return state::ramped_weight(weight(), runtime.up_since_ms(), now_ms, slow_start_ms);
  }
};

struct Backend {
  Backend(const config::Backend& backend_config, std::size_t index, std::shared_ptr<state::BackendRuntime> runtime,
          const std::vector<std::shared_ptr<state::ServerRuntime>>& servers);

  const config::Backend& config;
  const std::size_t index;
  const std::shared_ptr<state::BackendRuntime> runtime;
  std::vector<std::unique_ptr<Server>> servers;  // declared order; pointers stay put
  // TLS to the servers with tls = true (owned by the snapshot); nullptr when none has it.
  std::shared_ptr<tls::ClientContext> tls;
  // Last-good copies (stale_if_error), shared with the registry; nullptr when off.
  std::shared_ptr<state::StaleStore> stale;

  // Some server (main or backup) can take a new request now.
  [[nodiscard]] bool usable() const {
    for (const auto& server : servers) {
      if (server->serving()) return true;
    }
    return false;
  }
};

}  // namespace haven::upstream
