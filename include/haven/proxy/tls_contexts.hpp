#pragma once
// The TLS contexts of one configuration: one per TLS frontend, one per backend that has a TLS
// server. Built (files read, certificates checked) before a configuration is accepted: a bad
// certificate refuses the configuration, and at a reload the running one stays.
#include <cstdint>
#include <memory>
#include <vector>

#include "haven/config/config.hpp"
#include "haven/core/result.hpp"
#include "haven/tls/client_context.hpp"
#include "haven/tls/server_context.hpp"
#include "haven/tls/ticket_keys.hpp"

namespace haven::proxy {

struct TlsContexts {
  std::vector<std::shared_ptr<const tls::ServerContext>> frontends;  // per config frontend; nullptr: plain
  std::vector<std::shared_ptr<tls::ClientContext>> backends;         // per config backend; nullptr: no TLS

  // `now_ms` (wall clock) judges expiry.
  static core::Result<TlsContexts, config::ConfigError> build(const config::Config& config,
                                                              const std::shared_ptr<tls::TicketKeys>& keys,
                                                              std::int64_t now_ms);
};

}  // namespace haven::proxy
