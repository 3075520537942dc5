#pragma once
// `[admin] state_file`: the admin state and runtime weight of every server, kept across restarts.
// One line per server that is not READY at its configured weight:
//   backend/server STATE WEIGHT      e.g. "api/a drain -" or "static/s2 ready 10" ("-": configured)
// Written whole to a temporary file and renamed over the old one, so haven dying mid-write leaves
// either version.
#include <string>
#include <vector>

#include "haven/admin/inventory.hpp"

namespace haven::admin {

// Writes the state of every server of `inventory`. Returns "" or why it could not.
std::string save_state_file(const std::string& path, const Inventory& inventory);

// Applies a saved state to the servers of `inventory` that still exist. A missing file is no
// error (nothing saved yet). Returns one warning per line that could not be used.
std::vector<std::string> load_state_file(const std::string& path, const Inventory& inventory);

}  // namespace haven::admin
