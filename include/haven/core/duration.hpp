#pragma once
// Durations as operators write them: a number followed by a unit ("500ms", "2s", "1m", "1h").
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace haven::core {

using Duration = std::chrono::milliseconds;

// Returns nullopt for anything but digits followed by one of ms, s, m, h (a bare number is refused
// on purpose: "5" could mean seconds or milliseconds). Fractions such as "1.5s" are accepted.
std::optional<Duration> parse_duration(std::string_view text);

// "1500ms" -> "1.5s"-style rendering for summaries and logs.
std::string format_duration(Duration duration);

}  // namespace haven::core
