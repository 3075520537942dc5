#include "haven/core/wall_time.hpp"

#include <ctime>

#include <fmt/format.h>

namespace haven::core {

std::string iso8601(std::int64_t epoch_ms) {
  const std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                     parts.tm_hour, parts.tm_min, parts.tm_sec, static_cast<int>(epoch_ms % 1000));
}

}  // namespace haven::core
