#pragma once
// What traffic did, counted per worker without locks or atomic read-modify-writes (core::Counter)
// and summed when somebody reads (the admin API). One TrafficCounters block exists per worker for
// every frontend, backend and server; it belongs to the registry entry, so it outlives reloads.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "haven/core/counter.hpp"
#include "haven/state/outcome.hpp"

namespace haven::state {

// Upper bounds (milliseconds) of the response-time histogram buckets; a last bucket takes the rest.
inline constexpr std::array<std::uint64_t, 14> kResponseTimeBoundsMs{1,   2,   5,    10,   25,   50,   100,
                                                                     250, 500, 1000, 2500, 5000, 10000, 30000};
inline constexpr std::size_t kResponseTimeBuckets = kResponseTimeBoundsMs.size() + 1;

// Responses by status class: 1xx to 5xx, and exchanges that ended without a status.
inline constexpr std::size_t kStatusClasses = 6;
std::size_t status_class_index(int status);

struct TrafficCounters {
  core::Counter requests;  // exchanges (for a server: attempts sent to it)
  std::array<core::Counter, kStatusClasses> responses;
  std::array<core::Counter, kOutcomeCount> outcomes;
  core::Counter retries;          // attempts that failed and were tried again
  core::Counter redispatches;     // retries that went to another server
  core::Counter passive_failures;  // attempts that failed to reach the server or get an answer
  core::Counter bytes_in;         // from clients (request heads and bodies)
  core::Counter bytes_out;        // to clients
  std::array<core::Counter, kResponseTimeBuckets> response_time;  // request start to response end
  core::Counter response_time_sum_ms;
  core::Counter connections;          // frontend: client connections accepted; server: connections opened
  core::Counter refused_connections;  // frontend: over max_connections_per_client (429)
  core::Gauge active;                 // frontend: open client connections
  core::Gauge idle;                   // server: idle keep-alive connections in the pools
  // TLS handshakes (frontend: with clients; server: with the server), by result.
  core::Counter tls_full;      // finished, with a full handshake
  core::Counter tls_resumed;   // finished, resuming a session (ticket or cache)
  core::Counter tls_failures;  // refused or broken (bad client hello, unknown SNI with strict_sni, untrusted certificate)
  core::Counter tls_timeouts;  // not finished within timeouts.tls_handshake

  void observe_response_time(std::uint64_t ms);
};

// How one exchange ended, as the counters take it.
struct ExchangeRecord {
  Outcome outcome = Outcome::Ok;
  int status = 0;  // 0: no response was sent
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t elapsed_ms = 0;  // first request byte to the end of the response
};
// Counts `record` in `counters`: one request, its status class, its outcome, its bytes, and its
// response time when a response was sent.
void count_exchange(TrafficCounters& counters, const ExchangeRecord& record);

// The sum over workers, as plain numbers.
struct TrafficTotals {
  std::uint64_t requests = 0;
  std::array<std::uint64_t, kStatusClasses> responses{};
  std::array<std::uint64_t, kOutcomeCount> outcomes{};
  std::uint64_t retries = 0;
  std::uint64_t redispatches = 0;
  std::uint64_t passive_failures = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::array<std::uint64_t, kResponseTimeBuckets> response_time{};
  std::uint64_t response_time_sum_ms = 0;
  std::uint64_t connections = 0;
  std::uint64_t refused_connections = 0;
  std::int64_t active = 0;
  std::int64_t idle = 0;
  std::uint64_t tls_full = 0;
  std::uint64_t tls_resumed = 0;
  std::uint64_t tls_failures = 0;
  std::uint64_t tls_timeouts = 0;

  void add(const TrafficCounters& counters);
  [[nodiscard]] std::uint64_t response_count() const;
  // The response time below which `fraction` (0..1) of the counted responses fell, interpolated
  // within its bucket; 0 when nothing was counted.
  [[nodiscard]] double response_time_quantile_ms(double fraction) const;
};

// One T per worker, each on its own cache lines so workers never share one.
template <typename T>
class PerWorker {
 public:
  explicit PerWorker(std::size_t workers) : count_(workers), slots_(std::make_unique<Slot[]>(workers)) {}
  T& operator[](std::size_t worker) { return slots_[worker].value; }
  const T& operator[](std::size_t worker) const { return slots_[worker].value; }
  [[nodiscard]] std::size_t size() const { return count_; }

 private:
  struct alignas(64) Slot {
    T value;
  };
  std::size_t count_;
  std::unique_ptr<Slot[]> slots_;
};

using WorkerTraffic = PerWorker<TrafficCounters>;
TrafficTotals sum(const WorkerTraffic& traffic);

}  // namespace haven::state
