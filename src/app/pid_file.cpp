#include "haven/app/pid_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

namespace haven::app {

long read_pid_file(const std::string& path, std::string& error) {
  std::ifstream file(path);
  if (!file) {
    error = fmt::format("cannot read the pid file {}: {}", path, std::strerror(errno));
    return 0;
  }
  long pid = 0;
  if (!(file >> pid) || pid <= 0) {
    error = fmt::format("the pid file {} holds no process ID", path);
    return 0;
  }
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
    error = fmt::format("the pid file {} names process {}, which is not running", path, pid);
    return 0;
  }
  return pid;
}

std::string write_pid_file(const std::string& path) {
  const std::string temporary = fmt::format("{}.{}.tmp", path, ::getpid());
  std::FILE* file = std::fopen(temporary.c_str(), "w");
  if (file == nullptr) return fmt::format("cannot write {}: {}", temporary, std::strerror(errno));
  const bool written = std::fprintf(file, "%ld\n", static_cast<long>(::getpid())) > 0;
  const bool closed = std::fclose(file) == 0;
  if (!written || !closed || std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    std::remove(temporary.c_str());
    return fmt::format("cannot write the pid file {}: {}", path, std::strerror(saved));
  }
  return {};
}

void remove_pid_file(const std::string& path) {
  std::ifstream file(path);
  long pid = 0;
  if (file >> pid && pid == static_cast<long>(::getpid())) std::remove(path.c_str());
}

}  // namespace haven::app
