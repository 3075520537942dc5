#pragma once
// The last five minutes of every frontend, backend and server, for the stats page's sparklines and
// requests per second: requests and errors per 5-second interval, from totals sampled on a timer.
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace haven::admin {

struct Rates {
  double requests_per_second = 0;       // over the last complete interval
  std::vector<std::uint64_t> requests;  // per interval, oldest first
  std::vector<std::uint64_t> errors;    // 5xx answers and exchanges that ended without a status
};

class History {
 public:
  static constexpr std::size_t kPoints = 60;
  static constexpr std::int64_t kIntervalMs = 5000;

  // The totals of the entity `key` at `now_ms` (monotonic milliseconds). The first call only
  // primes the series; a total lower than the last (an entity replaced) starts it over.
  void record(const std::string& key, std::uint64_t requests, std::uint64_t errors, std::int64_t now_ms);
  [[nodiscard]] Rates rates(const std::string& key) const;
  // Drops the series of entities that no longer exist.
  void keep_only(const std::set<std::string>& keys);

 private:
  struct Series {
    std::uint64_t last_requests = 0;
    std::uint64_t last_errors = 0;
    std::int64_t last_ms = 0;
    double requests_per_second = 0;
    std::vector<std::uint64_t> requests;
    std::vector<std::uint64_t> errors;
  };
  std::map<std::string, Series, std::less<>> series_;
};

}  // namespace haven::admin
