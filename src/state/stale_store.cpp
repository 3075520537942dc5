#include "haven/state/stale_store.hpp"

#include <algorithm>
#include <chrono>

namespace haven::state {

namespace {
// Workers' loop clocks are each cached per loop turn: one may be a little behind another.
std::uint64_t age(std::uint64_t now_ms, std::uint64_t then_ms) { return now_ms > then_ms ? now_ms - then_ms : 0; }
}  // namespace

// The key is held twice (the map and the LRU list).
std::size_t StaleStore::entry_bytes(const std::string& key, const Entry& entry) {
  std::size_t bytes = 2 * key.size();
  for (const auto& name : entry.vary_names) bytes += name.size() + sizeof(std::string);
  for (const auto& variant : entry.variants) bytes += variant->bytes();
  return bytes;
}

// How long after its last failure a URL still counts as failing.
namespace {
std::uint64_t failing_window(const StaleLimits& limits) { return std::max<std::uint64_t>(3000, 3 * limits.probe_interval_ms); }
}  // namespace

StaleStore::StaleStore(StaleLimits limits) : limits_(limits) {
  failing_window_ms_.store(failing_window(limits), std::memory_order_relaxed);
}

void StaleStore::set_limits(StaleLimits limits) {
  const std::lock_guard lock(mutex_);
  limits_ = limits;
  max_age_ms_.store(limits.max_age_ms, std::memory_order_relaxed);
  failing_window_ms_.store(failing_window(limits), std::memory_order_relaxed);
  max_total_.store(limits.max_total, std::memory_order_relaxed);
  evict_to_fit(limits_.max_total);
}

StaleLimits StaleStore::limits() const {
  const std::lock_guard lock(mutex_);
  return limits_;
}

void StaleStore::touch(Entry& entry) { lru_.splice(lru_.begin(), lru_, entry.lru); }

void StaleStore::erase(Map::iterator it) {
  bytes_ -= entry_bytes(it->first, it->second);
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

// Least recently used first, the copies of failing URLs last: those are the ones being served
// (pinned while their outage lasts). A backend that is down stores nothing new, so its copies
// stay until max_age anyway.
void StaleStore::evict_to_fit(std::uint64_t budget) {
  if (bytes_ <= budget) return;
  const auto now = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
  for (auto it = lru_.end(); bytes_ > budget && it != lru_.begin();) {
    --it;
    const auto entry = entries_.find(*it);
    // Pinned: its servers failed it within max_age.
    if (entry->second.failed_ms != 0 && age(now, entry->second.failed_ms) < limits_.max_age_ms) continue;
    it = std::next(it);
    erase(entry);
    ++evictions_;
  }
  while (bytes_ > budget && !lru_.empty()) {
    erase(entries_.find(lru_.back()));
    ++evictions_;
  }
}

bool StaleStore::wants(std::string_view key, const std::vector<std::string>& vary_names,
                       const std::function<std::string_view(std::string_view)>& request_value, std::uint64_t now_ms) {
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end() || url_failing(it->second, now_ms) || it->second.vary_names != vary_names) return true;
  for (const auto& variant : it->second.variants) {
    bool match = true;
    for (std::size_t i = 0; match && i < vary_names.size(); ++i) {
      match = i < variant->vary_values.size() && variant->vary_values[i] == request_value(vary_names[i]);
    }
    if (match) return age(now_ms, variant->stored_ms) >= kRefreshMs;
  }
  return true;
}

void StaleStore::put(const std::string& key, std::vector<std::string> vary_names, std::shared_ptr<const StaleCopy> copy) {
  const std::lock_guard lock(mutex_);
  if (copy->bytes() > limits_.max_entry || copy->bytes() + key.size() > limits_.max_total) return;
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    lru_.push_front(key);
    it = entries_.emplace(key, Entry{}).first;
    it->second.lru = lru_.begin();
  } else {
    touch(it->second);
    bytes_ -= entry_bytes(key, it->second);
  }
  Entry& entry = it->second;
  if (entry.vary_names != vary_names) {
    // The server varies on other fields now: the old variants answer other questions.
    entry.variants.clear();
    entry.vary_names = std::move(vary_names);
  }
  auto same = std::find_if(entry.variants.begin(), entry.variants.end(),
                           [&](const auto& v) { return v->vary_values == copy->vary_values; });
  if (same != entry.variants.end()) {
    *same = copy;
  } else {
    if (entry.variants.size() >= kMaxVariants) entry.variants.erase(entry.variants.begin());
    entry.variants.push_back(copy);
  }
  // A good answer: the URL is not failing any more.
  entry.failed_ms = 0;
  bytes_ += entry_bytes(key, entry);
  ++stores_;
  newest_ms_.store(copy->stored_ms, std::memory_order_relaxed);
  // The entry just kept is the most recent: it is never the one evicted unless it alone is over.
  evict_to_fit(limits_.max_total);
}

std::shared_ptr<const StaleCopy> StaleStore::find(
    std::string_view key, const std::function<std::string_view(std::string_view)>& request_value,
    std::uint64_t now_ms) {
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  Entry& entry = it->second;
  std::vector<std::string_view> wanted;
  wanted.reserve(entry.vary_names.size());
  for (const auto& name : entry.vary_names) wanted.push_back(request_value(name));
  for (const auto& variant : entry.variants) {
    if (age(now_ms, variant->stored_ms) >= limits_.max_age_ms) continue;
    bool match = variant->vary_values.size() == wanted.size();
    for (std::size_t i = 0; match && i < wanted.size(); ++i) match = variant->vary_values[i] == wanted[i];
    if (!match) continue;
    ++hits_;
    touch(entry);
    return variant;
  }
  return nullptr;
}

bool StaleStore::url_failing(const Entry& entry, std::uint64_t now_ms) const {
  return entry.failed_ms != 0 && age(now_ms, entry.failed_ms) < failing_window(limits_);
}

bool StaleStore::may_probe(std::string_view key, std::uint64_t now_ms) {
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end() || !url_failing(it->second, now_ms)) return true;
  if (now_ms < it->second.next_probe_ms) return false;
  it->second.next_probe_ms = now_ms + limits_.probe_interval_ms;
  return true;
}

void StaleStore::failed(std::string_view key, std::uint64_t now_ms) {
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& entry = it->second;
  entry.failed_ms = std::max<std::uint64_t>(now_ms, 1);
  entry.next_probe_ms = now_ms + limits_.probe_interval_ms;
  last_failure_ms_.store(entry.failed_ms, std::memory_order_relaxed);
}

void StaleStore::succeeded(std::string_view key) {
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it != entries_.end()) it->second.failed_ms = 0;
}

bool StaleStore::reserve_capture(std::uint64_t bytes) {
  const std::uint64_t limit = max_total_.load(std::memory_order_relaxed);
  std::uint64_t now = capturing_bytes_.load(std::memory_order_relaxed);
  do {
    if (now + bytes > limit) return false;
  } while (!capturing_bytes_.compare_exchange_weak(now, now + bytes, std::memory_order_relaxed));
  return true;
}

void StaleStore::release_capture(std::uint64_t bytes) { capturing_bytes_.fetch_sub(bytes, std::memory_order_relaxed); }

bool StaleStore::has_fresh(std::uint64_t now_ms) const {
  const std::uint64_t newest = newest_ms_.load(std::memory_order_relaxed);
  return newest != 0 && age(now_ms, newest) < max_age_ms_.load(std::memory_order_relaxed);
}

StaleCounters StaleStore::counters() const {
  const std::lock_guard lock(mutex_);
  StaleCounters out;
  out.hits = hits_;
  out.stores = stores_;
  out.evictions = evictions_;
  out.bytes = bytes_;
  out.entries = entries_.size();
  const auto now = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
  for (const auto& [key, entry] : entries_) out.failing += url_failing(entry, now) ? 1 : 0;
  out.capturing_bytes = capturing_bytes_.load(std::memory_order_relaxed);
  return out;
}

}  // namespace haven::state
