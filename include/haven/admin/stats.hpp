#pragma once
// The numbers the stats page, stats.json and /metrics show, gathered in one pass: counters summed
// over workers, states read from the registry. Plain values, so renderers never touch live state.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "haven/admin/history.hpp"
#include "haven/admin/inventory.hpp"
#include "haven/tls/server_context.hpp"
#include "haven/state/backend_status.hpp"
#include "haven/state/server_runtime.hpp"
#include "haven/state/stale_store.hpp"
#include "haven/state/traffic_counters.hpp"

namespace haven::admin {

struct ServerStats {
  std::string name;
  std::string address;
  std::string tls_name;           // "" = plain TCP; else TLS to this name
  std::string group;              // "" = none
  bool backup = false;
  bool serving = false;           // takes new requests now (tier in force, healthy, READY, weight > 0)
  bool checked = false;
  state::Health health = state::Health::Up;
  std::int64_t health_since_ms = 0;
  std::uint64_t health_changes = 0;
  state::AdminState admin = state::AdminState::Ready;
  std::int64_t admin_since_ms = 0;
  int weight_configured = 1;
  std::optional<int> weight_runtime;
  std::optional<int> weight_shift;  // set by a traffic shift
  int weight_effective = 1;
  int active = 0;                 // requests in flight, all workers
  state::CheckReport last_check;
  state::TrafficTotals traffic;
  Rates rates;
};

// The routing haven does for a backend now: the record the status feed shows too (one truth).
using state::BackendMode;

struct BackendStats {
  std::string name;
  std::string balance;
  BackendMode mode = BackendMode::Primary;
  std::int64_t mode_since_ms = 0;
  std::string mode_reason;  // why the last change ("" before the first)
  std::optional<state::StaleCounters> stale;  // with stale_if_error
  std::optional<ShiftView> shift;             // a traffic shift, running or the last one
  int main_serving = 0;    // healthy, READY and weighted: could take a request
  int backup_serving = 0;
  int main_total = 0;
  int backup_total = 0;
  std::vector<std::string> groups;  // server groups, in order of first mention
  state::TrafficTotals traffic;
  Rates rates;
  std::vector<ServerStats> servers;
};

struct FrontendStats {
  std::string name;
  std::string bind;
  std::vector<tls::CertificateInfo> certificates;  // empty: plain HTTP
  state::TrafficTotals traffic;
  Rates rates;
};

struct ReloadStats {
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  std::int64_t last_success_ms = 0;  // wall clock; start-up counts as the first load
  std::int64_t last_failure_ms = 0;
  std::string last_error;            // "file:line:col: message" of the last failed reload, until one succeeds
};

struct ProcessStats {
  std::string version;
  long pid = 0;
  int workers = 1;
  std::int64_t started_ms = 0;
  std::int64_t now_ms = 0;
  std::string config_source;
  ReloadStats reloads;
};

struct Stats {
  ProcessStats process;
  std::vector<FrontendStats> frontends;
  std::vector<BackendStats> backends;
};

using state::backend_mode_name;  // "primary", "backup", "maintenance", "stale"

// Keys of the history series.
std::string history_key_frontend(std::string_view name);
std::string history_key_backend(std::string_view name);
std::string history_key_server(std::string_view backend, std::string_view server);
// What the history counts as errors: 5xx answers and exchanges that ended without a status.
std::uint64_t error_count(const state::TrafficTotals& traffic);
// Records the current totals of every entity of `inventory` (the admin side's timer, every
// History::kIntervalMs).
void sample_history(History& history, const Inventory& inventory, std::int64_t now_ms);

// Gathers everything from `inventory` (and rates from `history`, which may be empty).
Stats collect_stats(const Inventory& inventory, const History& history, ProcessStats process);

}  // namespace haven::admin
