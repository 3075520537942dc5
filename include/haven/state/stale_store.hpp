#pragma once
// The last-good copies of one backend ([backends.NAME.stale_if_error]): the last 200 answer to a
// GET of each kept URL, shared by every worker, served marked stale while the backend's servers
// fail. Bounded by bytes (least recently used copies go first) and by age (older than max_age is
// never served). It lives with the backend's registry entry, so a reload keeps the copies.
//
// Threads: any worker. Every call takes one short lock; the request path touches it only for
// answers it may keep (at most once a second per URL) and while servers fail.
#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace haven::state {

// One kept answer.
struct StaleCopy {
  std::string head;  // status line and end-to-end fields with Content-Length, without the blank line
  std::string body;
  std::int64_t stored_wall_ms = 0;  // for Age
  std::uint64_t stored_ms = 0;      // monotonic, for max_age
  std::vector<std::string> vary_values;  // the request's values of the answer's Vary fields
  bool has_hsts = false;                 // the server's own Strict-Transport-Security is in `head`
  // What it holds, bookkeeping included: what max_total bounds.
  [[nodiscard]] std::size_t bytes() const {
    std::size_t total = head.size() + body.size() + kOverhead;
    for (const auto& value : vary_values) total += value.size() + sizeof(std::string);
    return total;
  }
  static constexpr std::size_t kOverhead = 160;  // the object, its shared_ptr block and list/map nodes
};

struct StaleLimits {
  std::uint64_t max_age_ms = 3600000;
  std::uint64_t max_entry = 1ULL << 20;
  std::uint64_t max_total = 64ULL << 20;
  std::uint64_t probe_interval_ms = 1000;
};

// Counters for stats.json and /metrics.
struct StaleCounters {
  std::uint64_t hits = 0;
  std::uint64_t stores = 0;
  std::uint64_t evictions = 0;
  std::uint64_t bytes = 0;
  std::uint64_t entries = 0;
  std::uint64_t failing = 0;  // URLs whose servers failed a request lately (their copy went out)
  std::uint64_t capturing_bytes = 0;  // answers being copied right now
};

class StaleStore {
 public:
  // A URL's answer is copied at most this often: the request path pays for a copy once a second
  // per URL, not on every request.
  static constexpr std::uint64_t kRefreshMs = 1000;
  // Variants kept per URL (Vary): enough for the encodings and languages a page is served in.
  static constexpr std::size_t kMaxVariants = 8;

  explicit StaleStore(StaleLimits limits);
  StaleStore(const StaleStore&) = delete;
  StaleStore& operator=(const StaleStore&) = delete;

  // A reload changed the limits: copies over the new ones go.
  void set_limits(StaleLimits limits);
  [[nodiscard]] StaleLimits limits() const;

  // Whether an answer for `key` should be copied now: no copy of this variant (the request's
  // values of the answer's `vary_names`), or the one kept is a second old.
  bool wants(std::string_view key, const std::vector<std::string>& vary_names,
             const std::function<std::string_view(std::string_view)>& request_value, std::uint64_t now_ms);
  // Keeps `copy` for `key`, replacing the variant with the same Vary values; `vary_names` are the
  // answer's Vary field names (lower case).
  void put(const std::string& key, std::vector<std::string> vary_names, std::shared_ptr<const StaleCopy> copy);
  // The copy for `key` whose Vary values match the request's (`request_value(name)`), if one is
  // younger than max_age. Counts a hit when found.
  std::shared_ptr<const StaleCopy> find(std::string_view key,
                                        const std::function<std::string_view(std::string_view)>& request_value,
                                        std::uint64_t now_ms);

  // Single flight while a URL fails: whether this request goes to the servers (true: at most one
  // per probe interval) or gets the copy at once (false).
  bool may_probe(std::string_view key, std::uint64_t now_ms);
  // The servers failed a request for `key` (its copy was served instead), or answered it. A URL
  // counts as failing for a few probe intervals after its last failure only: one nobody asks for
  // again stops counting by itself.
  void failed(std::string_view key, std::uint64_t now_ms);
  void succeeded(std::string_view key);
  // Some URL failed lately: the request path looks the URL up before sending it (one atomic load
  // otherwise), and the feed shows the backend as served from copies.
  [[nodiscard]] bool any_failing(std::uint64_t now_ms) const {
    const std::uint64_t last = last_failure_ms_.load(std::memory_order_relaxed);
    return last != 0 && (now_ms <= last || now_ms - last < failing_window_ms_.load(std::memory_order_relaxed));
  }

  // Copies being made count against max_total before they are kept: many large answers copied at
  // once cannot take more memory than the store may hold. Returns false (copy abandoned) when
  // `bytes` more would not fit; release() gives back what a finished or abandoned copy took.
  bool reserve_capture(std::uint64_t bytes);
  void release_capture(std::uint64_t bytes);
  // Some copy is younger than max_age (the backend can be shown from copies).
  [[nodiscard]] bool has_fresh(std::uint64_t now_ms) const;

  [[nodiscard]] StaleCounters counters() const;

 private:
  struct Entry {
    std::vector<std::string> vary_names;
    std::vector<std::shared_ptr<const StaleCopy>> variants;
    std::uint64_t next_probe_ms = 0;
    std::uint64_t failed_ms = 0;  // last failure (0: none)
    std::list<std::string>::iterator lru;  // position in lru_ (front = most recent)
  };
  // Looked up by string_view: the request path builds no temporary key string.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const noexcept { return std::hash<std::string_view>{}(key); }
  };
  using Map = std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>>;
  void touch(Entry& entry);
  void erase(Map::iterator it);
  void evict_to_fit(std::uint64_t budget);
  static std::size_t entry_bytes(const std::string& key, const Entry& entry);

  mutable std::mutex mutex_;
  StaleLimits limits_;  // under mutex_
  Map entries_;         // under mutex_
  std::list<std::string> lru_;
  std::uint64_t bytes_ = 0;
  std::uint64_t hits_ = 0;
  std::uint64_t stores_ = 0;
  std::uint64_t evictions_ = 0;
  [[nodiscard]] bool url_failing(const Entry& entry, std::uint64_t now_ms) const;
  std::atomic<std::uint64_t> last_failure_ms_{0};
  std::atomic<std::uint64_t> failing_window_ms_{3000};
  std::atomic<std::uint64_t> capturing_bytes_{0};
  std::atomic<std::uint64_t> max_total_{limits_.max_total};
  std::atomic<std::uint64_t> newest_ms_{0};  // when the youngest copy was kept (0: none)
  std::atomic<std::uint64_t> max_age_ms_{limits_.max_age_ms};
};

}  // namespace haven::state
