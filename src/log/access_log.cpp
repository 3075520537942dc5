#include "haven/log/access_log.hpp"

#include <iterator>

#include <fmt/format.h>

namespace haven::log {

namespace {
// Lines up to this size reach a pipe in one atomic write (PIPE_BUF), so workers never interleave.
constexpr std::size_t kFlushThreshold = 3584;
constexpr std::size_t kAtomicWrite = 4096;  // PIPE_BUF on Linux
}

AccessLog::AccessLog(std::shared_ptr<Output> output, config::LogFormat format)
    : output_(std::move(output)), format_(format) {
  buffer_.reserve(kFlushThreshold + 1024);
}

void AccessLog::record(const AccessRecord& r) {
  if (!enabled()) return;
  const std::size_t before = buffer_.size();
  auto out = std::back_inserter(buffer_);
  if (format_ == config::LogFormat::Json) {
    buffer_.append("{\"time\":\"");
    append_timestamp(buffer_);
    buffer_.append("\",\"client\":\"");
    append_json_escaped(buffer_, r.client);
    buffer_.append("\",\"frontend\":\"");
    append_json_escaped(buffer_, r.frontend);
    buffer_.append("\",\"backend\":\"");
    append_json_escaped(buffer_, r.backend);
    buffer_.append("\",\"server\":\"");
    append_json_escaped(buffer_, r.server);
    buffer_.append("\",\"method\":\"");
    append_json_escaped(buffer_, r.method);
    buffer_.append("\",\"path\":\"");
    append_json_escaped(buffer_, r.target);
    fmt::format_to(out,
                   "\",\"version\":\"HTTP/1.{}\",\"status\":{},\"bytes_in\":{},\"bytes_out\":{},\"head_ms\":{},"
                   "\"connect_ms\":{},\"response_ms\":{},\"total_ms\":{},\"retries\":{},\"termination\":\"",
                   r.version_minor, r.status, r.bytes_in, r.bytes_out, r.head_ms, r.connect_ms, r.response_ms,
                   r.total_ms, r.retries);
    append_json_escaped(buffer_, r.termination);
    buffer_.append("\"}\n");
  } else {
    append_timestamp(buffer_);
    fmt::format_to(out, " {} {} {}/{} \"{} ", r.client, r.frontend, r.backend, r.server, r.method);
    // The target is the client's text: control bytes cannot reach here (the parser refuses
    // them), quotes are escaped so the line stays parseable.
    for (const char c : r.target) {
      if (c == '"') {
        buffer_.append("%22");
      } else {
        buffer_.push_back(c);
      }
    }
    fmt::format_to(out, " HTTP/1.{}\" {} {} {} head={} connect={} response={} total={} retries={} term={}\n",
                   r.version_minor, r.status, r.bytes_in, r.bytes_out, r.head_ms, r.connect_ms, r.response_ms,
                   r.total_ms, r.retries, r.termination);
  }
  if (buffer_.size() > kAtomicWrite && before > 0) {
    // Write what was there on its own, so no single write exceeds what a pipe keeps together.
    output_->write(std::string_view(buffer_).substr(0, before));
    buffer_.erase(0, before);
  }
  if (buffer_.size() >= kFlushThreshold) flush();
}

void AccessLog::flush() {
  if (buffer_.empty()) return;
  output_->write(buffer_);
  buffer_.clear();
}

}  // namespace haven::log
