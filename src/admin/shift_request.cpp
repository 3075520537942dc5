#include "haven/admin/shift_request.hpp"

#include <charconv>
#include <cstdlib>

#include <fmt/format.h>

#include "haven/core/duration.hpp"

namespace haven::admin {

std::optional<double> parse_rate(std::string_view text) {
  bool percent = false;
  if (!text.empty() && text.back() == '%') {
    percent = true;
    text.remove_suffix(1);
  }
  if (text.empty() || text.size() > 20) return std::nullopt;
  for (const char c : text) {
    if ((c < '0' || c > '9') && c != '.') return std::nullopt;
  }
  const std::string copy(text);
  char* end = nullptr;
  double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  if (percent) value /= 100.0;
  if (!(value >= 0.0 && value <= 1.0)) return std::nullopt;
  return value;
}

std::string parse_shift_plan(const JsonObject& body, state::ShiftPlan& plan) {
  for (const auto& [key, value] : body.members) {
    const auto need_string = [&]() -> std::string {
      return value.kind == JsonValue::Kind::String ? std::string() : fmt::format("\"{}\" must be a string", key);
    };
    const auto need_integer = [&](std::int64_t min, std::int64_t max) -> std::string {
      if (value.kind != JsonValue::Kind::Integer || value.integer < min || value.integer > max) {
        return fmt::format("\"{}\" must be a whole number from {} to {}", key, min, max);
      }
      return {};
    };
    std::string error;
    if (key == "from" || key == "to") {
      if (error = need_string(); error.empty()) (key == "from" ? plan.from : plan.to) = value.text;
    } else if (key == "steps") {
      if (error = need_string(); error.empty()) {
        plan.steps.clear();
        std::string_view list = value.text;
        while (!list.empty() && error.empty()) {
          const auto comma = list.find(',');
          std::string_view item = list.substr(0, comma);
          while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
          while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
          if (!item.empty() && item.back() == '%') item.remove_suffix(1);
          int step = 0;
          const auto result = std::from_chars(item.data(), item.data() + item.size(), step);
          if (item.empty() || result.ec != std::errc() || result.ptr != item.data() + item.size()) {
            error = fmt::format("\"steps\" must list shares in percent such as \"10,25,50,100\", not \"{}\"", value.text);
          }
          plan.steps.push_back(step);
          list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        }
      }
    } else if (key == "hold" || key == "max_p99") {
      if (error = need_string(); error.empty()) {
        const auto duration = core::parse_duration(value.text);
        if (!duration) {
          error = fmt::format("\"{}\" must be a duration such as \"60s\", not \"{}\"", key, value.text);
        } else if (key == "hold") {
          plan.hold_ms = static_cast<std::uint64_t>(duration->count());
        } else {
          plan.max_p99_ms = static_cast<std::uint64_t>(duration->count());
        }
      }
    } else if (key == "max_error_rate" || key == "max_error_rate_delta") {
      if (error = need_string(); error.empty()) {
        const auto rate = parse_rate(value.text);
        if (!rate) {
          error = fmt::format("\"{}\" must be a rate such as \"1%\" or \"0.01\", not \"{}\"", key, value.text);
        } else if (key == "max_error_rate") {
          plan.max_error_rate = *rate;
        } else {
          plan.max_error_rate_delta = *rate;
        }
      }
    } else if (key == "min_requests") {
      if (error = need_integer(1, 100000000); error.empty()) plan.min_requests = static_cast<std::uint64_t>(value.integer);
    } else if (key == "failure_limit") {
      if (error = need_integer(1, 100); error.empty()) plan.failure_limit = static_cast<int>(value.integer);
    } else {
      error = fmt::format("unknown member \"{}\" (expected from, to, steps, hold, min_requests, max_error_rate, "
                          "max_p99, max_error_rate_delta, failure_limit)",
                          key);
    }
    if (!error.empty()) return error;
  }
  return plan.problem();
}

}  // namespace haven::admin
