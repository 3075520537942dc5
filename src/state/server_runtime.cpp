#include "haven/state/server_runtime.hpp"

#include <chrono>

namespace haven::state {

std::string_view health_name(Health health) {
  switch (health) {
    case Health::Up:
      return "UP";
    case Health::Down:
      return "DOWN";
    case Health::Checking:
      return "CHECKING";
  }
  return "DOWN";
}

std::string_view admin_state_name(AdminState state) {
  switch (state) {
    case AdminState::Ready:
      return "READY";
    case AdminState::Drain:
      return "DRAIN";
    case AdminState::Maint:
      return "MAINT";
  }
  return "READY";
}

std::string_view admin_state_word(AdminState state) {
  switch (state) {
    case AdminState::Ready:
      return "ready";
    case AdminState::Drain:
      return "drain";
    case AdminState::Maint:
      return "maint";
  }
  return "ready";
}

std::optional<AdminState> parse_admin_state(std::string_view text) {
  if (text == "ready") return AdminState::Ready;
  if (text == "drain") return AdminState::Drain;
  if (text == "maint") return AdminState::Maint;
  return std::nullopt;
}

std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ServerRuntime::ServerRuntime(std::string backend_name, std::string server_name, config::Address server_address,
                             std::string server_tls_name, std::optional<config::Check> server_check, Health health,
                             std::shared_ptr<WorkerTraffic> server_traffic)
    : backend(std::move(backend_name)),
      name(std::move(server_name)),
      id(backend + "/" + name),
      address(std::move(server_address)),
      tls_name(std::move(server_tls_name)),
      check(std::move(server_check)),
      traffic(std::move(server_traffic)),
      health_(health),
      health_since_ms_(wall_clock_ms()),
      admin_since_ms_(wall_clock_ms()) {}

int ramped_weight(int weight, std::uint64_t up_since_ms, std::uint64_t now_ms, std::uint64_t slow_start_ms) {
  const int full = weight * kWeightScale;
  if (weight <= 0 || slow_start_ms == 0 || up_since_ms == 0 || now_ms >= up_since_ms + slow_start_ms) return full;
  const std::uint64_t elapsed = now_ms > up_since_ms ? now_ms - up_since_ms : 0;
  const auto ramped = static_cast<int>(static_cast<std::uint64_t>(full) * elapsed / slow_start_ms);
  return ramped < 1 ? 1 : ramped;
}

bool ServerRuntime::set_health(Health health, std::uint64_t now_ms) {
  if (health_.load(std::memory_order_relaxed) == health) return false;
  if (health == Health::Up) up_since_ms_.store(now_ms, std::memory_order_relaxed);
  health_.store(health, std::memory_order_relaxed);
  health_since_ms_.store(wall_clock_ms(), std::memory_order_relaxed);
  health_changes_.store(health_changes_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return true;
}

bool ServerRuntime::set_admin_state(AdminState state) {
  if (admin_.load(std::memory_order_relaxed) == state) return false;
  admin_.store(state, std::memory_order_relaxed);
  admin_since_ms_.store(wall_clock_ms(), std::memory_order_relaxed);
  return true;
}

std::optional<int> ServerRuntime::runtime_weight() const {
  const int weight = runtime_weight_.load(std::memory_order_relaxed);
  if (weight < 0) return std::nullopt;
  return weight;
}

void ServerRuntime::set_runtime_weight(std::optional<int> weight) {
  runtime_weight_.store(weight ? *weight : -1, std::memory_order_relaxed);
}

void ServerRuntime::inherit_admin(const ServerRuntime& previous) {
  admin_.store(previous.admin_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  admin_since_ms_.store(previous.admin_since_ms_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  runtime_weight_.store(previous.runtime_weight_.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void ServerRuntime::set_last_check(CheckReport report) {
  {
    const std::lock_guard lock(check_mutex_);
    last_check_ = std::move(report);
  }
  health_known_.store(true, std::memory_order_relaxed);
}

CheckReport ServerRuntime::last_check() const {
  const std::lock_guard lock(check_mutex_);
  return last_check_;
}

}  // namespace haven::state
