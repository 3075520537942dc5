#pragma once
// Wall-clock times as text, for what people and pages read (stats, the status feed).
#include <cstdint>
#include <string>

namespace haven::core {

// "2026-12-02T12:03:05.123Z" (UTC) for milliseconds since the epoch.
std::string iso8601(std::int64_t epoch_ms);

}  // namespace haven::core
