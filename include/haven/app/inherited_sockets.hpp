#pragma once
// What a new binary took over from the haven it replaces (upgrade in place), spread over its own
// configuration: listening sockets to the frontends and admin listener that bind the same
// address, health and admin state to the servers that are the same server. Sockets nobody takes
// are closed with this object (a frontend the new configuration dropped).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "haven/app/handover.hpp"
#include "haven/config/config.hpp"
#include "haven/state/registry.hpp"
#include "haven/tls/ticket_keys.hpp"

namespace haven::app {

class InheritedSockets {
 public:
  explicit InheritedSockets(Handover handover) : handover_(std::move(handover)) {}
  ~InheritedSockets();
  InheritedSockets(const InheritedSockets&) = delete;
  InheritedSockets& operator=(const InheritedSockets&) = delete;

  // The sockets of the old frontend that is `frontend` (same name and bind; failing that, the
  // same bind unless it says port 0), dealt out to `workers` workers: [w] are worker w's (a worker
  // may get several; with fewer sockets than workers, some get a copy of another's, so that no
  // socket joins the port's group before this process is sure to serve). `port` is set to their
  // port. Empty when no old frontend matches.
  std::vector<std::vector<int>> take_frontend(const config::Frontend& frontend, std::size_t workers,
                                              std::uint16_t& port);
  // The admin listener's socket when `settings` bind what the old one bound, else -1.
  int take_admin(const config::Admin& settings);
  // Health, admin state and runtime weight for each server of the registry that the old process
  // had under the same name at the same address. Returns how many servers took them.
  std::size_t apply_server_state(const state::Registry& registry) const;

  // The old process's session ticket keys (none that are not well-formed).
  [[nodiscard]] std::vector<tls::TicketKey> ticket_keys() const;

  [[nodiscard]] long pid() const { return handover_.pid; }
  [[nodiscard]] const std::string& version() const { return handover_.version; }
  // Closes the sockets nothing took (frontends or an admin listener this configuration does not
  // have): left open they would take connections nobody accepts. Returns how many.
  std::size_t close_unused();

 private:
  Handover handover_;
};

// "host:port" ("[host]:port" for IPv6) of a server's address, as the hand-over names it.
std::string server_endpoint(const config::Address& address);

// A ticket key as the hand-over carries it (160 hex digits), and back (false when malformed).
std::string ticket_key_text(const tls::TicketKey& key);
bool parse_ticket_key(std::string_view text, tls::TicketKey& key);

}  // namespace haven::app
