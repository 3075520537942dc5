#pragma once
// Where log lines go: stdout, stderr, a file (appended), or nowhere.
#include <memory>
#include <string>
#include <string_view>

#include "haven/core/json_text.hpp"

namespace haven::log {

using core::append_json_escaped;

class Output {
 public:
  // "stdout", "stderr", "off", or a file path (created if needed, appended to).
  static std::shared_ptr<Output> open(const std::string& spec, std::string& error);
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  [[nodiscard]] bool enabled() const { return fd_ >= 0; }
  // One write() per call: lines written together stay together.
  void write(std::string_view text) const;

 private:
  Output(int fd, bool owned) : fd_(fd), owned_(owned) {}
  int fd_;
  bool owned_;
};

// "2026-11-21T00:21:30.123Z"
void append_timestamp(std::string& out);

}  // namespace haven::log
