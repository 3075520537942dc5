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

class EventLog {
 public:
  EventLog(std::shared_ptr<Output> output, config::LogFormat format);

  // `kind` is a short machine name ("listening", "server_down", ...); `message` the sentence a
  // person reads; `fields` extra key/values for the JSON form.
  void write(std::string_view kind, std::string_view message,
             const std::vector<std::pair<std::string_view, std::string>>& fields = {});

 private:
  std::shared_ptr<Output> output_;
  config::LogFormat format_;
  std::mutex mutex_;
};

}  // namespace haven::log
