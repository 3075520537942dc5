#pragma once
// How a backend is being served, as haven's own routing decides it, with when that began and why:
// the one record behind the public status feed (and, later, the stale-copy mode). It lives with the
// backend's registry entry, so a reload that keeps the backend keeps its history.
//
// Threads: whoever changes what routing sees (the checker, the admin side, a worker that finds
// every server unreachable) calls update() with the mode it now computes; readers take a copy.
// Both are rare (state changes, a feed re-render), never per request.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace haven::state {

enum class BackendMode : std::uint8_t {
  Primary,      // main servers take the requests
  Backup,       // no main server can: the backups do
  Maintenance,  // no server can: haven answers with its maintenance page or JSON
  Stale,        // no server can, and haven answers from last-good copies
};

std::string_view backend_mode_name(BackendMode mode);  // "primary", "backup", "maintenance", "stale"

// Whether visitors get real answers in this mode (a page can be shown, its data fetched).
inline bool mode_serves(BackendMode mode) { return mode == BackendMode::Primary || mode == BackendMode::Backup; }

// Rings whenever some backend's mode changes, from whichever thread changed it: the workers then
// push the change to their event-stream subscribers. One per registry.
class StatusSignal {
 public:
  // Set before any thread may ring it; cleared (an empty function) before the listener goes.
  void listen(std::function<void()> listener);
  void ring();

 private:
  std::mutex mutex_;
  std::function<void()> listener_;  // under mutex_
};

struct StatusRecord {
  BackendMode mode = BackendMode::Primary;
  std::int64_t since_ms = 0;       // wall clock, ms since the epoch: when `mode` began
  bool changed = false;            // false until the first transition (the mode it started in)
  BackendMode previous = BackendMode::Primary;
  // Why the last transition happened, in words that name no server and no address
  // ("main servers failing checks"); "" before the first.
  std::string reason;
};

class BackendStatus {
 public:
  // Primary from `started_ms` (wall clock), no transition yet. `signal` rings on every change.
  BackendStatus(std::int64_t started_ms, std::shared_ptr<StatusSignal> signal);

  // Records `mode` as the one in force at `now_ms`. Returns true when it differs from the last
  // one (then `reason` is kept and the generation moves on).
  bool update(BackendMode mode, std::string_view reason, std::int64_t now_ms);
  [[nodiscard]] StatusRecord read() const;
  // Moves on with every transition: a reader that saw generation g has nothing new to read until
  // it changes.
  [[nodiscard]] std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Held by whoever computes the mode and records it (upstream::refresh_status): the facts are
  // read under it, so an older computation can never overwrite a newer one.
  std::mutex& refresh_mutex() { return refresh_mutex_; }

 private:
  const std::shared_ptr<StatusSignal> signal_;
  std::mutex refresh_mutex_;
  mutable std::mutex mutex_;
  StatusRecord record_;  // under mutex_
  std::atomic<std::uint64_t> generation_{1};
};

}  // namespace haven::state
