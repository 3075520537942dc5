#pragma once
// State changes and lifecycle events: one line each, written at once (they are rare), from any
// thread.
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "haven/config/config.hpp"
#include "haven/log/output.hpp"

namespace haven::log {

// One extra key/value of an event; numbers stay numbers in the JSON form.
struct EventField {
  EventField(std::string_view k, std::string v) : key(k), text(std::move(v)) {}
  EventField(std::string_view k, long v) : key(k), number(v), is_number(true) {}
  std::string_view key;
  std::string text;
  long number = 0;
  bool is_number = false;
};

// One event as `haven ctl events` shows it.
struct RecentEvent {
  std::uint64_t seq = 0;  // 1, 2, 3... in the order written
  std::string time;       // "2026-11-21T00:21:30.123Z"
  std::string kind;
  std::string message;
};

class EventLog {
 public:
  // The last this many events are kept for the admin API, whatever the output.
  static constexpr std::size_t kRecent = 1000;

  EventLog(std::shared_ptr<Output> output, config::LogFormat format);

  // `kind` is a short machine name ("listening", "server_down", ...); `message` the sentence a
  // person reads; `fields` extra key/values for the JSON form.
  void write(std::string_view kind, std::string_view message, const std::vector<EventField>& fields = {});

  // The kept events after `after` (a seq), oldest first, at most `limit`.
  [[nodiscard]] std::vector<RecentEvent> since(std::uint64_t after, std::size_t limit) const;

 private:
  std::shared_ptr<Output> output_;
  config::LogFormat format_;
  mutable std::mutex mutex_;
  std::deque<RecentEvent> recent_;  // under mutex_
  std::uint64_t next_seq_ = 1;      // under mutex_
};

}  // namespace haven::log
