#include "haven/log/event_log.hpp"

namespace haven::log {

EventLog::EventLog(std::shared_ptr<Output> output, config::LogFormat format)
    : output_(std::move(output)), format_(format) {}

void EventLog::write(std::string_view kind, std::string_view message, const std::vector<EventField>& fields) {
  if (!output_ || !output_->enabled()) return;
  std::string line;
  line.reserve(160);
  if (format_ == config::LogFormat::Json) {
    line.append("{\"time\":\"");
    append_timestamp(line);
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
    append_timestamp(line);
    line.push_back(' ');
    line.append(message);
    line.push_back('\n');
  }
  const std::lock_guard lock(mutex_);
  output_->write(line);
}

}  // namespace haven::log
