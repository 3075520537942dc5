#pragma once
// One line per request. Each worker formats into its own buffer and writes it out once per
// loop iteration (and before it grows past a pipe's atomic write size), so lines of different
// workers never interleave and logging costs no system call per request.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "haven/config/config.hpp"
#include "haven/log/output.hpp"

namespace haven::log {

struct AccessRecord {
  std::string_view client;       // "ip:port"
  std::string_view frontend;
  std::string_view backend;      // "-" when none was chosen
  std::string_view server;       // "-" when none was used
  std::string_view method;
  std::string_view target;
  int version_minor = 1;
  int status = 0;
  std::uint64_t bytes_in = 0;    // request body bytes from the client
  std::uint64_t bytes_out = 0;   // response bytes sent to the client, head included
  std::int64_t head_ms = -1;     // until the request head was complete
  std::int64_t connect_ms = -1;  // waiting for a server connection (queue + connect)
  std::int64_t response_ms = -1; // request sent -> first response byte
  std::int64_t total_ms = 0;
  int retries = 0;
  std::string_view termination;  // "ok", "client_abort", "server_timeout", ...
};

class AccessLog {
 public:
  AccessLog(std::shared_ptr<Output> output, config::LogFormat format);
  [[nodiscard]] bool enabled() const { return output_ && output_->enabled(); }
  void record(const AccessRecord& record);
  void flush();

 private:
  std::shared_ptr<Output> output_;
  config::LogFormat format_;
  std::string buffer_;
};

}  // namespace haven::log
