#pragma once
// Stats as text: stats.json (docs/admin-api.md documents the schema) and the Prometheus text
// exposition format (version 0.0.4) for /metrics. Pure functions of a Stats value.
#include <cstdint>
#include <string>

#include "haven/admin/stats.hpp"

namespace haven::admin {

std::string render_stats_json(const Stats& stats);
std::string render_prometheus(const Stats& stats);
// Parts of stats.json, for the runtime API.
std::string render_backends_json(const Stats& stats);  // {"backends": [...]}
std::string render_backend_json(const BackendStats& backend);
std::string render_server_json(const ServerStats& server);
std::string render_shift_json(const ShiftView& shift);
std::string render_servers_json(const BackendStats& backend);  // {"servers": [...]}

}  // namespace haven::admin
