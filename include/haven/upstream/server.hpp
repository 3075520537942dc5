#pragma once
// Runtime state of the configured servers, shared by every worker. Workers read it without
// locks (relaxed atomics); one place (the health checker) writes the state.
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "haven/config/config.hpp"
#include "haven/net/socket_address.hpp"

namespace haven::upstream {

enum class ServerState : std::uint8_t { Up, Down };

struct Server {
  Server(const config::Server& server_config, std::size_t backend, std::size_t index, std::string backend_name);

  const config::Server& config;
  const std::size_t backend_index;
  const std::size_t index;        // position in the backend's declared order
  const std::string id;           // "backend/server", for logs
  net::SocketAddress address;

  std::atomic<ServerState> state{ServerState::Up};
  std::atomic<int> active{0};     // requests in flight on this server, all workers (leastconn)
  // Consecutive connection failures seen by traffic since the last success (passive checks).
  std::atomic<int> passive_failures{0};
  // The last active check failed: the server may be hung, even before `fall` checks say DOWN.
  std::atomic<bool> failing_check{false};
  // Traffic found it unreachable (`fall` failures, a refused connection under on_refused =
  // "mark-down", or every server of the backend failed a request): no request goes to it until a
  // check or a real response proves it usable, so every answer about its backend (a maintenance
  // 503, a navigation's page) follows from the same state at once. Set by workers, cleared by
  // the checker and by responses.
  std::atomic<bool> unreachable{false};

  [[nodiscard]] bool up() const {
    return state.load(std::memory_order_relaxed) == ServerState::Up && !unreachable.load(std::memory_order_relaxed);
  }
};

struct Backend {
  explicit Backend(const config::Backend& backend_config, std::size_t index);

  const config::Backend& config;
  const std::size_t index;
  std::vector<std::unique_ptr<Server>> servers;  // declared order; pointers stay put

  // Some server (main or backup) can take a request now.
  [[nodiscard]] bool usable() const {
    for (const auto& server : servers) {
      if (server->up() && server->config.weight > 0) return true;
    }
    return false;
  }
};

}  // namespace haven::upstream
