#include "haven/state/traffic_counters.hpp"

#include <algorithm>

namespace haven::state {

std::size_t status_class_index(int status) {
  if (status >= 100 && status <= 599) return static_cast<std::size_t>(status / 100 - 1);
  return kStatusClasses - 1;
}

void TrafficCounters::observe_response_time(std::uint64_t ms) {
  const auto* bound = std::lower_bound(kResponseTimeBoundsMs.begin(), kResponseTimeBoundsMs.end(), ms);
  response_time[static_cast<std::size_t>(bound - kResponseTimeBoundsMs.begin())].add();
  response_time_sum_ms.add(ms);
}

void count_exchange(TrafficCounters& counters, const ExchangeRecord& record) {
  counters.requests.add();
  counters.responses[status_class_index(record.status)].add();
  counters.outcomes[static_cast<std::size_t>(record.outcome)].add();
  counters.bytes_in.add(record.bytes_in);
  counters.bytes_out.add(record.bytes_out);
  if (record.status != 0) counters.observe_response_time(record.elapsed_ms);
}

void TrafficTotals::add(const TrafficCounters& counters) {
  requests += counters.requests.get();
  for (std::size_t i = 0; i < kStatusClasses; ++i) responses[i] += counters.responses[i].get();
  for (std::size_t i = 0; i < kOutcomeCount; ++i) outcomes[i] += counters.outcomes[i].get();
  retries += counters.retries.get();
  redispatches += counters.redispatches.get();
  passive_failures += counters.passive_failures.get();
  bytes_in += counters.bytes_in.get();
  bytes_out += counters.bytes_out.get();
  for (std::size_t i = 0; i < kResponseTimeBuckets; ++i) response_time[i] += counters.response_time[i].get();
  response_time_sum_ms += counters.response_time_sum_ms.get();
  connections += counters.connections.get();
  refused_connections += counters.refused_connections.get();
  active += counters.active.get();
  idle += counters.idle.get();
  tls_full += counters.tls_full.get();
  tls_resumed += counters.tls_resumed.get();
  tls_failures += counters.tls_failures.get();
  tls_timeouts += counters.tls_timeouts.get();
}

std::uint64_t TrafficTotals::response_count() const {
  std::uint64_t total = 0;
  for (const auto count : response_time) total += count;
  return total;
}

double TrafficTotals::response_time_quantile_ms(double fraction) const {
  const std::uint64_t total = response_count();
  if (total == 0) return 0;
  const double rank = std::clamp(fraction, 0.0, 1.0) * static_cast<double>(total);
  double below = 0;
  for (std::size_t i = 0; i < kResponseTimeBuckets; ++i) {
    const auto count = static_cast<double>(response_time[i]);
    if (count > 0 && below + count >= rank) {
      const double low = i == 0 ? 0.0 : static_cast<double>(kResponseTimeBoundsMs[i - 1]);
      // The last bucket has no upper bound: its lower bound is all that is known.
      if (i == kResponseTimeBuckets - 1) return low;
      const double high = static_cast<double>(kResponseTimeBoundsMs[i]);
      return low + (high - low) * ((rank - below) / count);
    }
    below += count;
  }
  return static_cast<double>(kResponseTimeBoundsMs.back());
}

TrafficTotals sum(const WorkerTraffic& traffic) {
  TrafficTotals totals;
  for (std::size_t i = 0; i < traffic.size(); ++i) totals.add(traffic[i]);
  return totals;
}

}  // namespace haven::state
