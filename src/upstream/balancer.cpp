#include "haven/upstream/balancer.hpp"

#include <algorithm>

namespace haven::upstream {

namespace {

bool usable(const Candidate& c) { return c.up && c.weight > 0; }

std::optional<std::size_t> first_usable_backup(std::span<const Candidate> servers) {
  for (std::size_t i = 0; i < servers.size(); ++i) {
    if (servers[i].backup && usable(servers[i])) return i;
  }
  return std::nullopt;
}

// Smooth weighted round-robin (each server gets its share, interleaved rather than in bursts).
std::optional<std::size_t> pick_weighted(std::span<const Candidate> servers, const ServerSet& eligible,
                                         BalancerState& state) {
  state.current_weight.resize(servers.size(), 0);
  int total = 0;
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    if (!eligible.contains(i)) continue;
    state.current_weight[i] += servers[i].weight;
    total += servers[i].weight;
    if (!best || state.current_weight[i] > state.current_weight[*best]) best = i;
  }
  if (best) state.current_weight[*best] -= total;
  return best;
}

std::optional<std::size_t> pick_least_connections(std::span<const Candidate> servers,
                                                  const ServerSet& eligible, BalancerState& state) {
  // Lowest active/weight; ties broken round-robin so equal servers share the load.
  std::optional<std::size_t> best;
  const std::size_t count = servers.size();
  for (std::size_t step = 0; step < count; ++step) {
    const std::size_t i = (state.next + step) % count;
    if (!eligible.contains(i)) continue;
    if (!best) {
      best = i;
      continue;
    }
    const auto& a = servers[i];
    const auto& b = servers[*best];
    if (static_cast<long>(a.active) * b.weight < static_cast<long>(b.active) * a.weight) best = i;
  }
  if (best) state.next = (*best + 1) % count;
  return best;
}

}  // namespace

Tier usable_tier(std::span<const Candidate> servers) {
  bool backup_up = false;
  for (const auto& c : servers) {
    if (!usable(c)) continue;
    if (!c.backup) return Tier::Main;
    backup_up = true;
  }
  return backup_up ? Tier::Backup : Tier::None;
}

bool in_service(std::span<const Candidate> servers, std::size_t index, bool all_backups) {
  const auto& c = servers[index];
  if (!usable(c)) return false;
  switch (usable_tier(servers)) {
    case Tier::Main:
      return !c.backup;
    case Tier::Backup:
      return all_backups || first_usable_backup(servers) == index;
    case Tier::None:
      return false;
  }
  return false;
}

std::optional<std::size_t> choose_server(config::Balance policy, bool all_backups, std::span<const Candidate> servers,
                                         const TriedSet& tried, BalancerState& state) {
  const Tier tier = usable_tier(servers);
  if (tier == Tier::None) return std::nullopt;
  const std::size_t count = std::min(servers.size(), ServerSet::kMaxServers);
  const auto first_backup = first_usable_backup(servers);
  auto serving_backup = [&](std::size_t i) {
    return servers[i].backup && usable(servers[i]) && (all_backups || first_backup == i);
  };
  // The tier in force, minus what this request already tried; then, for a retry that exhausted
  // the main tier, the backups; and only then the tried servers again.
  ServerSet in_tier;
  ServerSet untried;
  for (std::size_t i = 0; i < count; ++i) {
    const bool serving = tier == Tier::Main ? (!servers[i].backup && usable(servers[i])) : serving_backup(i);
    if (!serving) continue;
    in_tier.add(i);
    if (!tried.contains(i)) untried.add(i);
  }
  if (untried.empty() && tier == Tier::Main) {
    for (std::size_t i = 0; i < count; ++i) {
      if (serving_backup(i) && !tried.contains(i)) untried.add(i);
    }
  }
  const ServerSet& eligible = untried.empty() ? in_tier : untried;
  switch (policy) {
    case config::Balance::First:
      for (std::size_t i = 0; i < count; ++i) {
        if (eligible.contains(i)) return i;
      }
      return std::nullopt;
    case config::Balance::LeastConn:
      return pick_least_connections(servers.first(count), eligible, state);
    case config::Balance::RoundRobin:
      return pick_weighted(servers.first(count), eligible, state);
  }
  return std::nullopt;
}

}  // namespace haven::upstream
