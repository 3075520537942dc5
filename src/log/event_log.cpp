#include "haven/log/event_log.hpp"

namespace haven::log {

EventLog::EventLog(std::shared_ptr<Output> output, config::LogFormat format)
    : output_(std::move(output)), format_(format) {}

void EventLog::write(std::string_view kind, std::string_view message, const std::vector<EventField>& fields) {
  std::string time;
  append_timestamp(time);
  const bool to_output = output_ && output_->enabled();
  std::string line;
  line.reserve(160);
  if (!to_output) {
    // Only kept for the admin API.
  } else if (format_ == config::LogFormat::Json) {
    line.append("{\"time\":\"");
    line.append(time);
    line.append("\",\"event\":\"");
    append_json_escaped(line, kind);
    line.append("\",\"message\":\"");
    append_json_escaped(line, message);
    line.push_back('"');
    for (const auto& field : fields) {
      line.append(",\"");
      append_json_escaped(line, field.key);
      line.append("\":");
      if (field.is_number) {
        line.append(std::to_string(field.number));
      } else {
        line.push_back('"');
        append_json_escaped(line, field.text);
        line.push_back('"');
      }
    }
    line.append("}\n");
  } else {
    line.append(time);
    line.push_back(' ');
    line.append(message);
    line.push_back('\n');
  }
  const std::lock_guard lock(mutex_);
  if (to_output) output_->write(line);
  recent_.push_back({next_seq_++, std::move(time), std::string(kind), std::string(message)});
  if (recent_.size() > kRecent) recent_.pop_front();
}

std::vector<RecentEvent> EventLog::since(std::uint64_t after, std::size_t limit) const {
  const std::lock_guard lock(mutex_);
  std::vector<RecentEvent> out;
  for (const auto& event : recent_) {
    if (event.seq <= after) continue;
    if (out.size() == limit) break;
    out.push_back(event);
  }
  return out;
}

}  // namespace haven::log
