#include "haven/log/output.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

namespace haven::log {

std::shared_ptr<Output> Output::open(const std::string& spec, std::string& error) {
  if (spec == "off") return std::shared_ptr<Output>(new Output(-1, false));
  if (spec == "stdout") return std::shared_ptr<Output>(new Output(STDOUT_FILENO, false));
  if (spec == "stderr") return std::shared_ptr<Output>(new Output(STDERR_FILENO, false));
  const int fd = ::open(spec.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = fmt::format("cannot open log file {}: {}", spec, std::strerror(errno));
    return nullptr;
  }
  return std::shared_ptr<Output>(new Output(fd, true));
}

Output::~Output() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

void Output::write(std::string_view text) const {
  if (fd_ < 0) return;
  while (!text.empty()) {
    const ssize_t n = ::write(fd_, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // a full disk or closed pipe must not stop the proxy
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

void append_timestamp(std::string& out) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                 utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, now.tv_nsec / 1000000);
}


}  // namespace haven::log
