#include "haven/upstream/server.hpp"

namespace haven::upstream {

Server::Server(const config::Server& server_config, std::size_t backend, std::size_t server_index,
               std::string backend_name)
    : config(server_config), backend_index(backend), index(server_index),
      id(std::move(backend_name) + "/" + server_config.name) {
  // The config layer resolved names to numeric addresses; an unparsable one cannot get here.
  address.assign(server_config.address.host, server_config.address.port);
}

Backend::Backend(const config::Backend& backend_config, std::size_t backend_index)
    : config(backend_config), index(backend_index) {
  servers.reserve(backend_config.servers.size());
  for (std::size_t i = 0; i < backend_config.servers.size(); ++i) {
    servers.push_back(std::make_unique<Server>(backend_config.servers[i], backend_index, i, backend_config.name));
  }
}

}  // namespace haven::upstream
