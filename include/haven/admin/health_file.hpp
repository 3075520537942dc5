#pragma once
// [admin] health_file: haven's health verdict as keepalived's track_file reads it, "0" healthy,
// "1" not. Written beside and renamed over, so a reader never sees a half-written file; written
// only when the verdict changes.
#include <optional>
#include <string>

namespace haven::admin {

class HealthFile {
 public:
  explicit HealthFile(std::string path) : path_(std::move(path)) {}

  // Writes the verdict if it differs from the last one written. Returns "" or why it could not
  // (then it is tried again at the next call).
  std::string write(bool healthy);
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::optional<bool> written_;
};

}  // namespace haven::admin
