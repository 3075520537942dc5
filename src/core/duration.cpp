#include "haven/core/duration.hpp"

#include <cstdint>
#include <limits>

#include <fmt/format.h>

namespace haven::core {

std::optional<Duration> parse_duration(std::string_view text) {
  std::size_t pos = 0;
  std::uint64_t whole = 0;
  std::size_t whole_digits = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    whole = whole * 10 + static_cast<std::uint64_t>(text[pos] - '0');
    if (whole > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
    ++pos;
    ++whole_digits;
  }
  if (whole_digits == 0) return std::nullopt;
  // Up to three fractional digits: enough for milliseconds of a second.
  std::uint64_t fraction_thousandths = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::size_t fraction_digits = 0;
    std::uint64_t scale = 100;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (fraction_digits < 3) fraction_thousandths += static_cast<std::uint64_t>(text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++fraction_digits;
    }
    if (fraction_digits == 0) return std::nullopt;
  }
  const std::string_view unit = text.substr(pos);
  std::uint64_t unit_ms = 0;
  if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "s") {
    unit_ms = 1000;
  } else if (unit == "m") {
    unit_ms = 60 * 1000;
  } else if (unit == "h") {
    unit_ms = 60 * 60 * 1000;
  } else {
    return std::nullopt;
  }
  const std::uint64_t ms = whole * unit_ms + fraction_thousandths * unit_ms / 1000;
  return Duration(static_cast<Duration::rep>(ms));
}

std::string format_duration(Duration duration) {
  const auto ms = duration.count();
  if (ms % (60 * 60 * 1000) == 0 && ms != 0) return fmt::format("{}h", ms / (60 * 60 * 1000));
  if (ms % (60 * 1000) == 0 && ms != 0) return fmt::format("{}m", ms / (60 * 1000));
  if (ms % 1000 == 0 && ms != 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

}  // namespace haven::core
