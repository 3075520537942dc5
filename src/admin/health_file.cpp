#include "haven/admin/health_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

namespace haven::admin {

std::string HealthFile::write(bool healthy) {
  if (written_ == healthy) return {};
  const std::string temporary = fmt::format("{}.{}.tmp", path_, static_cast<long>(::getpid()));
  std::FILE* file = std::fopen(temporary.c_str(), "w");
  if (file == nullptr) return fmt::format("cannot write {}: {}", temporary, std::strerror(errno));
  const bool written = std::fputs(healthy ? "0\n" : "1\n", file) >= 0;
  const bool closed = std::fclose(file) == 0;
  if (!written || !closed || std::rename(temporary.c_str(), path_.c_str()) != 0) {
    const int saved = errno;
    std::remove(temporary.c_str());
    return fmt::format("cannot write the health file {}: {}", path_, std::strerror(saved));
  }
  written_ = healthy;
  return {};
}

}  // namespace haven::admin
