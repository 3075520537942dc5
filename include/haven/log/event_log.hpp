#pragma once
// State changes and lifecycle events: one line each, written at once (they are rare), from any
// thread.
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

class EventLog {
 public:
  EventLog(std::shared_ptr<Output> output, config::LogFormat format);

  // `kind` is a short machine name ("listening", "server_down", ...); `message` the sentence a
  // person reads; `fields` extra key/values for the JSON form.
  void write(std::string_view kind, std::string_view message, const std::vector<EventField>& fields = {});

 private:
  std::shared_ptr<Output> output_;
  config::LogFormat format_;
  std::mutex mutex_;
};

}  // namespace haven::log
