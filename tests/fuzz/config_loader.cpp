// Configuration files, through the loader haven --check and start-up use. Whatever the text, the
// loader returns a Config or one error that points into the file; a Config it accepts keeps the
// promises the rest of haven indexes and sizes things by.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "haven/config/loader.hpp"
#include "require.hpp"

namespace {

using haven::fuzz::require;
namespace config = haven::config;

const std::string kSourceName = "fuzz.toml";

void check_backend(const config::Backend& backend) {
  require(!backend.servers.empty() && backend.servers.size() <= config::kMaxServersPerBackend);
  require(backend.retries >= 0 && backend.retries <= 10);
  for (std::size_t i = 0; i < backend.servers.size(); ++i) {
    const config::Server& server = backend.servers[i];
    require(!server.name.empty() && server.address.port != 0 && !server.address.host.empty());
    require(server.weight >= 0 && server.weight <= 256);
    for (std::size_t j = 0; j < i; ++j) require(backend.servers[j].name != server.name);
  }
  if (backend.check) {
    require(backend.check->rise >= 1 && backend.check->fall >= 1 && !backend.check->expect_status.empty());
    require(backend.check->interval.count() > 0 && backend.check->timeout.count() > 0);
  }
}

// `index` must point at the backend called `name`: the proxy follows indexes, messages use names.
void check_backend_reference(const config::Config& loaded, std::size_t index, const std::string& name) {
  require(index < loaded.backends.size() && loaded.backends[index].name == name);
}

void check_config(const config::Config& loaded) {
  require(loaded.source == kSourceName);
  require(!loaded.backends.empty() && !loaded.frontends.empty());
  for (std::size_t i = 0; i < loaded.backends.size(); ++i) {
    if (i > 0) require(loaded.backends[i - 1].name < loaded.backends[i].name);
    check_backend(loaded.backends[i]);
  }
  for (std::size_t i = 0; i < loaded.frontends.size(); ++i) {
    const config::Frontend& frontend = loaded.frontends[i];
    if (i > 0) require(loaded.frontends[i - 1].name < frontend.name);
    check_backend_reference(loaded, frontend.default_backend_index, frontend.default_backend);
    for (const config::Route& route : frontend.routes) {
      require(!route.path_prefix.empty() && route.path_prefix.front() == '/');
      check_backend_reference(loaded, route.backend_index, route.backend);
    }
    require(frontend.maintenance_requires_indexes.size() == frontend.maintenance_requires.size());
    for (std::size_t j = 0; j < frontend.maintenance_requires.size(); ++j) {
      check_backend_reference(loaded, frontend.maintenance_requires_indexes[j], frontend.maintenance_requires[j]);
    }
    require(frontend.max_header_bytes >= 1024 && frontend.max_headers >= 1);
  }
  for (const std::string& url : loaded.maintenance.poll) require(!url.empty() && url.front() == '/');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const config::ConfigResult result = config::parse_config(text, kSourceName);
  if (result) {
    check_config(*result);
    return 0;
  }
  // The text is all there is: every refusal comes from it and must say where in it.
  const config::ConfigError& error = result.error();
  require(error.file == kSourceName && error.line >= 1 && error.column >= 1 && !error.message.empty());
  return 0;
}
