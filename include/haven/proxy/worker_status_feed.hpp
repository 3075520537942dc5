#pragma once
// One worker's side of the status feed: the answers for each frontend, rendered only when a
// backend they report changed mode (or a reload came), and the event-stream subscribers it pushes
// each change to. Its own thread only.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "haven/fallback/status_feed.hpp"
#include "haven/proxy/snapshot.hpp"

namespace haven::proxy {

// A connection that streams the feed (Http1Connection in its subscribed state).
class StatusSubscriber {
 public:
  // Some backend changed mode: send the current state if it differs from the last one sent.
  virtual void on_status_change() = 0;
  // Every heartbeat interval: keep the stream alive, or close it when its reader has stalled.
  virtual void on_status_heartbeat() = 0;

 protected:
  ~StatusSubscriber() = default;

 private:
  friend class WorkerStatusFeed;
  StatusSubscriber* prev_ = nullptr;
  StatusSubscriber* next_ = nullptr;
  bool listed_ = false;
};

class WorkerStatusFeed {
 public:
  // The answer of frontend `frontend_index` of `snapshot` as of now. `current` is the worker's
  // snapshot in force: answers for it are cached until a reported backend changes mode; answers
  // for an older one (a connection still on it) are rendered each time. The reference stays
  // valid until the next call.
  const fallback::StatusFeedAnswer& answer(const Snapshot& current, const Snapshot& snapshot,
                                           std::size_t frontend_index);
  // A reload: the cached answers belong to the old snapshot.
  void forget_answers() { cached_.clear(); }

  // Subscribers, at most `limit` (the config's max_status_subscribers) at a time.
  [[nodiscard]] bool has_room(int limit) const { return subscribers_ < static_cast<std::size_t>(limit < 0 ? 0 : limit); }
  void subscribe(StatusSubscriber& subscriber);
  void unsubscribe(StatusSubscriber& subscriber);
  [[nodiscard]] std::size_t subscribers() const { return subscribers_; }
  // Tells every subscriber (each may unsubscribe itself meanwhile).
  void notify_change();
  void heartbeat();

 private:
  struct Cached {
    std::vector<std::uint64_t> generations;  // of the frontend's status backends, when rendered
    fallback::StatusFeedAnswer answer;
    bool built = false;
  };
  static fallback::StatusFeedAnswer render(const Snapshot& snapshot, std::size_t frontend_index);
  template <typename Call>
  void for_each_subscriber(Call&& call);

  std::vector<Cached> cached_;  // per frontend of the current snapshot
  fallback::StatusFeedAnswer uncached_;
  StatusSubscriber* head_ = nullptr;
  std::size_t subscribers_ = 0;
};

}  // namespace haven::proxy
