#include "status_ranges.hpp"

#include <fmt/format.h>

namespace haven::config::detail {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool parse_status(std::string_view text, int& status, std::string& why) {
  text = trim(text);
  // Three digits exactly: every HTTP status has three, and it rules out overflow.
  bool digits = text.size() == 3;
  for (char c : text) digits = digits && c >= '0' && c <= '9';
  if (!digits) {
    why = fmt::format("\"{}\" is not an HTTP status", text);
    return false;
  }
  status = (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
  if (status < 100 || status > 599) {
    why = fmt::format("status {} is outside 100-599", status);
    return false;
  }
  return true;
}

}  // namespace

bool parse_status_ranges(std::string_view text, std::vector<StatusRange>& out, std::string& why) {
  std::vector<StatusRange> ranges;
  std::string_view rest = text;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    if (item.empty()) {
      why = "an item is empty";
      return false;
    }
    StatusRange range;
    const std::size_t dash = item.find('-');
    if (!parse_status(item.substr(0, dash), range.low, why)) return false;
    range.high = range.low;
    if (dash != std::string_view::npos) {
      if (!parse_status(item.substr(dash + 1), range.high, why)) return false;
      if (range.low > range.high) {
        why = fmt::format("range \"{}\" runs backwards", item);
        return false;
      }
    }
    ranges.push_back(range);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  out = std::move(ranges);
  return true;
}

}  // namespace haven::config::detail
