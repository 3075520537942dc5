#include "haven/app/fd_limit.hpp"

#include <sys/resource.h>

#include <algorithm>

#include <fmt/format.h>

namespace haven::app {

namespace {
constexpr rlim_t kReservedDescriptors = 64;  // listeners, logs, loop internals, health checks
}

FdLimitResult raise_fd_limit(int max_connections) {
  FdLimitResult result;
  result.max_connections = max_connections;
  const rlim_t needed = static_cast<rlim_t>(max_connections) * 2 + kReservedDescriptors;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return result;
  if (limit.rlim_cur >= needed) return result;
  const rlim_t target = limit.rlim_max == RLIM_INFINITY ? needed : std::min(needed, limit.rlim_max);
  rlimit raised = limit;
  raised.rlim_cur = target;
  if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  if (limit.rlim_cur >= needed) return result;
  const rlim_t usable = limit.rlim_cur > kReservedDescriptors ? (limit.rlim_cur - kReservedDescriptors) / 2 : 1;
  result.max_connections = static_cast<int>(std::max<rlim_t>(usable, 1));
  result.warning = fmt::format(
      "open-file limit is {} (hard limit {}), too low for max_connections = {}; accepting at most {} connections",
      limit.rlim_cur, limit.rlim_max, max_connections, result.max_connections);
  return result;
}

}  // namespace haven::app
