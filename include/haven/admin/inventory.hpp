#pragma once
// What the admin side sees of the configuration in force: the config, its backends as bound to
// the registry, and its frontends' registry entries. The app builds it from the snapshot it swaps
// in; `owner` keeps that snapshot alive for as long as the inventory is held.
#include <memory>
#include <vector>

#include "haven/tls/server_context.hpp"

#include "haven/admin/shift_driver.hpp"
#include "haven/config/config.hpp"
#include "haven/state/registry.hpp"
#include "haven/upstream/server.hpp"

namespace haven::admin {

struct Inventory {
  std::shared_ptr<const void> owner;
  const config::Config* config = nullptr;
  std::vector<const upstream::Backend*> backends;                    // config order
  std::vector<std::shared_ptr<state::FrontendRuntime>> frontends;    // config order
  std::vector<std::uint16_t> frontend_ports;                         // as bound (port 0 resolved)
  std::vector<std::vector<tls::CertificateInfo>> frontend_certificates;  // config order; empty: plain
  std::vector<std::optional<ShiftView>> shifts;                      // config order of backends
};

}  // namespace haven::admin
