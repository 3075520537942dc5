#pragma once
// Choosing a server: first the tier (main servers while any is usable, else backups), then the
// backend's policy within the tier. Pure apart from the per-worker state it is handed.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "haven/config/config.hpp"
#include "haven/state/registry.hpp"

namespace haven::upstream {

// What the balancer needs to know of one server, in declared order.
struct Candidate {
  bool up = true;
  bool backup = false;
  int weight = 1;
  int active = 0;  // in-flight requests (leastconn)
};

// A set of server indexes of one backend (config limits a backend to kMaxServers servers).
class ServerSet {
 public:
  static constexpr std::size_t kMaxServers = 64;
  void add(std::size_t index) {
    if (index < kMaxServers) bits_ |= std::uint64_t{1} << index;
  }
  void remove(std::size_t index) {
    if (index < kMaxServers) bits_ &= ~(std::uint64_t{1} << index);
  }
  [[nodiscard]] bool contains(std::size_t index) const { return index < kMaxServers && (bits_ >> index & 1U) != 0; }
  [[nodiscard]] bool empty() const { return bits_ == 0; }

 private:
  std::uint64_t bits_ = 0;
};

// Servers already tried by this request (retries go elsewhere).
using TriedSet = ServerSet;

using BalancerState = state::BalancerState;

enum class Tier : std::uint8_t { Main, Backup, None };

// The tier that takes traffic now: Main while a main server is up with weight > 0, else Backup
// while a backup is up, else None (the backend is in maintenance).
Tier usable_tier(std::span<const Candidate> servers);

// Whether server `index` may take new requests now, given the tier in force and `all_backups`
// (only the first usable backup in declared order serves unless all_backups is set).
bool in_service(std::span<const Candidate> servers, std::size_t index, bool all_backups);

// Picks a server for a new request, skipping `tried`; when every usable server was tried, the
// tried ones are allowed again (a retry may go back to the same server rather than fail).
std::optional<std::size_t> choose_server(config::Balance policy, bool all_backups, std::span<const Candidate> servers,
                                         const TriedSet& tried, BalancerState& state);

}  // namespace haven::upstream
