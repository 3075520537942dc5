#include "haven/fallback/status_feed.hpp"

#include <fmt/format.h>

#include "haven/core/json_text.hpp"
#include "haven/core/wall_time.hpp"

namespace haven::fallback {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string render_status_json(std::span<const FeedEntry> entries, long retry_after_seconds) {
  bool serving = true;
  for (const FeedEntry& entry : entries) serving = serving && state::mode_serves(entry.record.mode);
  std::string out = serving ? R"({"serving":true,"backends":{)" : R"({"serving":false,"backends":{)";
  bool first = true;
  for (const FeedEntry& entry : entries) {
    const state::StatusRecord& record = entry.record;
    if (!first) out += ',';
    first = false;
    core::append_json_string(out, entry.backend);
    out += R"(:{"mode":")";
    out += state::backend_mode_name(record.mode);
    out += R"(","since":")";
    out += core::iso8601(record.since_ms);
    out += R"(","previous":)";
    if (record.changed) {
      core::append_json_string(out, state::backend_mode_name(record.previous));
      out += R"(,"reason":)";
      core::append_json_string(out, record.reason);
    } else {
      out += R"(null,"reason":null)";
    }
    out += R"(,"retry_after":)";
    out += record.mode == state::BackendMode::Maintenance ? std::to_string(retry_after_seconds) : "null";
    out += '}';
  }
  out += "}}";
  return out;
}

std::uint64_t body_hash(std::string_view body) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : body) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash == 0 ? 1 : hash;
}

std::string entity_tag(std::uint64_t hash) { return fmt::format("\"{:016x}\"", hash); }

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const auto comma = if_none_match.find(',');
    std::string_view tag = trim(if_none_match.substr(0, comma));
    if_none_match = comma == std::string_view::npos ? std::string_view() : if_none_match.substr(comma + 1);
    if (tag == "*") return true;
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == etag) return true;
  }
  return false;
}

StatusFeedAnswer::StatusFeedAnswer(std::string json) : etag_(entity_tag(body_hash(json))), hash_(body_hash(json)) {
  full_ = fmt::format(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nETag: {}\r\n"
      "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n",
      json.size(), etag_);
  head_length_ = full_.size();
  full_ += json;
  not_modified_ = fmt::format("HTTP/1.1 304 Not Modified\r\nETag: {}\r\nCache-Control: no-store\r\n\r\n", etag_);
  event_ = fmt::format("event: status\nid: {}\ndata: {}\n\n", etag_, json);
}

std::string_view event_stream_head() {
  // No Content-Length and Connection: close: the stream ends when either side closes it. A
  // browser's EventSource reconnects after `retry` ms when it does.
  return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
         "X-Content-Type-Options: nosniff\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n"
         "retry: 2000\n\n";
}

}  // namespace haven::fallback
