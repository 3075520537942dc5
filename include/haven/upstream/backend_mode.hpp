#pragma once
// The mode a backend is in as routing sees it (main servers, backups, or none: maintenance) and
// why it changed, in words fit for a public page: they name no server and no address. Computed
// from the same server state the balancer reads, so the status feed and the answers visitors get
// never disagree (behaviour.md, item 9).
#include <span>
#include <string>

#include "haven/state/backend_status.hpp"
#include "haven/upstream/server.hpp"

namespace haven::upstream {

// Why a server does or does not take new requests, in the order reasons are told.
enum class ServerCondition : std::uint8_t {
  Serving,
  FailingChecks,  // DOWN
  Unreachable,    // traffic could not reach it
  Checking,       // added or changed by a reload, no check passed yet
  Operator,       // drain, maint or weight 0
};

struct ServerFacts {
  bool backup = false;
  ServerCondition condition = ServerCondition::Serving;
};

ServerCondition condition_of(const Server& server);

// Primary while a main server serves, else Backup while a backup does, else Maintenance.
state::BackendMode routing_mode(std::span<const ServerFacts> servers);

// Why the backend went from `from` to `to`: "main servers failing checks", "main and backup
// servers unreachable", "main servers back in service".
std::string mode_change_reason(std::span<const ServerFacts> servers, state::BackendMode from, state::BackendMode to);

// Computes the backend's mode now and records it in its registry entry (with the reason when it
// changed). Returns true on a change. Cheap (a pass over the servers and one short lock), so it
// is called wherever server state that routing reads changes, never per request.
bool refresh_status(const Backend& backend);

}  // namespace haven::upstream
