#pragma once
// The public status feed: how haven routes each backend of a frontend right now (primary, backup,
// maintenance or stale), since when and why, as JSON for a poll or as an event for a stream. The
// maintenance page reads it to come back the moment haven does. Built once per state change and
// then served as pre-built bytes; it names backends, never a server or an address.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "haven/state/backend_status.hpp"

namespace haven::fallback {

struct FeedEntry {
  std::string_view backend;
  state::StatusRecord record;
};

// {"serving":true,"backends":{"api":{"mode":"backup","since":"...","previous":"primary",
// "reason":"main servers failing checks","retry_after":null},...}}. `serving`: every backend is
// primary or backup. `retry_after_seconds` is given for backends in maintenance.
std::string render_status_json(std::span<const FeedEntry> entries, long retry_after_seconds);

// A 64-bit FNV-1a hash of `body`, never 0.
std::uint64_t body_hash(std::string_view body);
// A strong entity tag for a body of that hash ("\"<16 hex digits>\"").
std::string entity_tag(std::uint64_t hash);

// Whether an If-None-Match value (a list of tags, or "*") names `etag`; weak tags compare by
// their opaque part, as RFC 9110 asks for If-None-Match.
bool etag_matches(std::string_view if_none_match, std::string_view etag);

// The answers to one state of the feed, ready to send.
class StatusFeedAnswer {
 public:
  StatusFeedAnswer() = default;
  explicit StatusFeedAnswer(std::string json);

  [[nodiscard]] std::string_view response(bool head_only) const {
    return head_only ? std::string_view(full_).substr(0, head_length_) : std::string_view(full_);
  }
  [[nodiscard]] std::string_view not_modified() const { return not_modified_; }
  [[nodiscard]] std::string_view etag() const { return etag_; }
  // The body's 64-bit hash (the tag's value): tells two states apart without comparing text.
  [[nodiscard]] std::uint64_t hash() const { return hash_; }
  [[nodiscard]] std::string_view json() const { return std::string_view(full_).substr(head_length_); }
  // The event-stream message of this state: "event: status\nid: <tag>\ndata: <json>\n\n".
  [[nodiscard]] std::string_view event() const { return event_; }

 private:
  std::string full_;  // head and body
  std::size_t head_length_ = 0;
  std::string not_modified_;
  std::string etag_;
  std::string event_;
  std::uint64_t hash_ = 0;
};

// The head of an event-stream answer (no length: it lasts until either side closes), with the
// client's reconnection delay (`retry:`) as the first line of the stream.
std::string_view event_stream_head();
// What keeps an idle stream's intermediaries from closing it: an event-stream comment.
inline constexpr std::string_view kEventStreamHeartbeat = ":\n\n";

}  // namespace haven::fallback
