#include "haven/upstream/server.hpp"

namespace haven::upstream {

Server::Server(const config::Server& server_config, std::size_t backend, std::size_t server_index,
               std::shared_ptr<state::ServerRuntime> runtime_in)
    : config(server_config),
      backend_index(backend),
      index(server_index),
      runtime_entry(std::move(runtime_in)),
      runtime(*runtime_entry),
      id(runtime.id) {
  // The config layer resolved names to numeric addresses; an unparsable one cannot get here.
  address.assign(server_config.address.host, server_config.address.port);
}

Backend::Backend(const config::Backend& backend_config, std::size_t backend_index,
                 std::shared_ptr<state::BackendRuntime> runtime_in,
                 const std::vector<std::shared_ptr<state::ServerRuntime>>& server_entries)
    : config(backend_config), index(backend_index), runtime(std::move(runtime_in)) {
  servers.reserve(backend_config.servers.size());
  for (std::size_t i = 0; i < backend_config.servers.size(); ++i) {
    servers.push_back(std::make_unique<Server>(backend_config.servers[i], backend_index, i, server_entries[i]));
  }
}

}  // namespace haven::upstream
