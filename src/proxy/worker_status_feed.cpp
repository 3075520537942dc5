#include "haven/proxy/worker_status_feed.hpp"

namespace haven::proxy {

fallback::StatusFeedAnswer WorkerStatusFeed::render(const Snapshot& snapshot, std::size_t frontend_index) {
  const config::Config& config = *snapshot.config;
  const config::Frontend& frontend = config.frontends[frontend_index];
  std::vector<fallback::FeedEntry> entries;
  entries.reserve(frontend.status_backend_indexes.size());
  for (const std::size_t index : frontend.status_backend_indexes) {
    const upstream::Backend& backend = *snapshot.backends[index];
    entries.push_back({backend.config.name, backend.runtime->status.read()});
  }
  const long retry_after = static_cast<long>((config.maintenance.retry_after.count() + 999) / 1000);
  return fallback::StatusFeedAnswer(fallback::render_status_json(entries, retry_after));
}

const fallback::StatusFeedAnswer& WorkerStatusFeed::answer(const Snapshot& current, const Snapshot& snapshot,
                                                           std::size_t frontend_index) {
  if (&snapshot != &current) {
    uncached_ = render(snapshot, frontend_index);
    return uncached_;
  }
  if (cached_.size() != current.config->frontends.size()) cached_.assign(current.config->frontends.size(), Cached{});
  Cached& cached = cached_[frontend_index];
  const auto& indexes = current.config->frontends[frontend_index].status_backend_indexes;
  bool fresh = cached.built && cached.generations.size() == indexes.size();
  for (std::size_t i = 0; fresh && i < indexes.size(); ++i) {
    fresh = cached.generations[i] == current.backends[indexes[i]]->runtime->status.generation();
  }
  if (fresh) return cached.answer;
  // Generations first: a change racing with the render shows up as a newer generation next time.
  cached.generations.resize(indexes.size());
  for (std::size_t i = 0; i < indexes.size(); ++i) {
    cached.generations[i] = current.backends[indexes[i]]->runtime->status.generation();
  }
  cached.answer = render(current, frontend_index);
  cached.built = true;
  return cached.answer;
}

void WorkerStatusFeed::subscribe(StatusSubscriber& subscriber) {
  if (subscriber.listed_) return;
  subscriber.listed_ = true;
  subscriber.prev_ = nullptr;
  subscriber.next_ = head_;
  if (head_ != nullptr) head_->prev_ = &subscriber;
  head_ = &subscriber;
  ++subscribers_;
}

void WorkerStatusFeed::unsubscribe(StatusSubscriber& subscriber) {
  if (!subscriber.listed_) return;
  subscriber.listed_ = false;
  if (subscriber.prev_ != nullptr) {
    subscriber.prev_->next_ = subscriber.next_;
  } else {
    head_ = subscriber.next_;
  }
  if (subscriber.next_ != nullptr) subscriber.next_->prev_ = subscriber.prev_;
  subscriber.prev_ = subscriber.next_ = nullptr;
  --subscribers_;
}

template <typename Call>
void WorkerStatusFeed::for_each_subscriber(Call&& call) {
  // The next one is taken first: a subscriber may leave the list during its call (its write
  // failed), never another one.
  for (StatusSubscriber* subscriber = head_; subscriber != nullptr;) {
    StatusSubscriber* next = subscriber->next_;
    call(*subscriber);
    subscriber = next;
  }
}

void WorkerStatusFeed::notify_change() {
  for_each_subscriber([](StatusSubscriber& subscriber) { subscriber.on_status_change(); });
}

void WorkerStatusFeed::heartbeat() {
  for_each_subscriber([](StatusSubscriber& subscriber) { subscriber.on_status_heartbeat(); });
}

}  // namespace haven::proxy
