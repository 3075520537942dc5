#include "haven/state/stale_store.hpp"

#include <algorithm>

namespace haven::state {

namespace {
// Workers' loop clocks are each cached per loop turn: one may be a little behind another.
std::uint64_t age(std::uint64_t now_ms, std::uint64_t then_ms) { return now_ms > then_ms ? now_ms - then_ms : 0; }
}  // namespace

std::size_t StaleStore::entry_bytes(const std::string& key, const Entry& entry) {
  std::size_t bytes = key.size();
  for (const auto& variant : entry.variants) bytes += variant->bytes();
  return bytes;
}

void StaleStore::set_limits(StaleLimits limits) {
  const std::lock_guard lock(mutex_);
  limits_ = limits;
  max_age_ms_.store(limits.max_age_ms, std::memory_order_relaxed);
  evict_to_fit(limits_.max_total);
}

StaleLimits StaleStore::limits() const {
  const std::lock_guard lock(mutex_);
  return limits_;
}

void StaleStore::touch(Entry& entry) { lru_.splice(lru_.begin(), lru_, entry.lru); }

void StaleStore::erase(Map::iterator it) {
  bytes_ -= entry_bytes(it->first, it->second);
  if (it->second.failing) failing_.fetch_sub(1, std::memory_order_relaxed);
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

// Least recently used first. A backend that is down stores nothing new, so its copies stay: they
// go only by age, or when a reload lowers max_total.
void StaleStore::evict_to_fit(std::uint64_t budget) {
  while (bytes_ > budget && !lru_.empty()) {
    erase(entries_.find(lru_.back()));
    ++evictions_;
  }
}

bool StaleStore::wants(std::string_view key, const std::vector<std::string>& vary_names,
                       const std::function<std::string_view(std::string_view)>& request_value, std::uint64_t now_ms) {
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end() || it->second.failing || it->second.vary_names != vary_names) return true;
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
    bytes_ += key.size();
  } else {
    touch(it->second);
  }
  Entry& entry = it->second;
  bytes_ -= entry_bytes(key, entry) - key.size();
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
  if (entry.failing) {
    entry.failing = false;
    failing_.fetch_sub(1, std::memory_order_relaxed);
  }
  bytes_ += entry_bytes(key, entry) - key.size();
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

bool StaleStore::may_probe(std::string_view key, std::uint64_t now_ms) {
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.failing) return true;
  if (now_ms < it->second.next_probe_ms) return false;
  it->second.next_probe_ms = now_ms + limits_.probe_interval_ms;
  return true;
}

void StaleStore::failed(std::string_view key, std::uint64_t now_ms) {
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& entry = it->second;
  if (!entry.failing) {
    entry.failing = true;
    failing_.fetch_add(1, std::memory_order_relaxed);
  }
  entry.next_probe_ms = now_ms + limits_.probe_interval_ms;
}

void StaleStore::succeeded(std::string_view key) {
  if (!any_failing()) return;
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.failing) return;
  it->second.failing = false;
  failing_.fetch_sub(1, std::memory_order_relaxed);
}

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
  out.failing = static_cast<std::uint64_t>(failing_.load(std::memory_order_relaxed));
  return out;
}

}  // namespace haven::state
