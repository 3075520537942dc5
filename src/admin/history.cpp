#include "haven/admin/history.hpp"

namespace haven::admin {

void History::record(const std::string& key, std::uint64_t requests, std::uint64_t errors, std::int64_t now_ms) {
  auto [it, fresh] = series_.try_emplace(key);
  Series& series = it->second;
  if (fresh || requests < series.last_requests || errors < series.last_errors || now_ms <= series.last_ms) {
    if (!fresh && now_ms <= series.last_ms) return;
    series.last_requests = requests;
    series.last_errors = errors;
    series.last_ms = now_ms;
    return;
  }
  const std::uint64_t new_requests = requests - series.last_requests;
  const std::uint64_t new_errors = errors - series.last_errors;
  series.requests_per_second =
      static_cast<double>(new_requests) * 1000.0 / static_cast<double>(now_ms - series.last_ms);
  series.requests.push_back(new_requests);
  series.errors.push_back(new_errors);
  if (series.requests.size() > kPoints) {
    series.requests.erase(series.requests.begin());
    series.errors.erase(series.errors.begin());
  }
  series.last_requests = requests;
  series.last_errors = errors;
  series.last_ms = now_ms;
}

Rates History::rates(const std::string& key) const {
  const auto it = series_.find(key);
  if (it == series_.end()) return {};
  return {it->second.requests_per_second, it->second.requests, it->second.errors};
}

void History::keep_only(const std::set<std::string>& keys) {
  std::erase_if(series_, [&](const auto& entry) { return !keys.contains(entry.first); });
}

}  // namespace haven::admin
