#include "readable_file.hpp"

#include <cerrno>
#include <cstdio>
#include <system_error>

#include <fmt/format.h>

namespace haven::config::detail {

bool check_readable_file(Errors& errors, const toml::node& node, std::string_view what,
                         const std::filesystem::path& base_dir, std::string& path) {
  std::filesystem::path resolved(path);
  if (resolved.is_relative() && !base_dir.empty()) resolved = base_dir / resolved;
  std::error_code ec;
  const auto status = std::filesystem::status(resolved, ec);
  if (!std::filesystem::exists(status)) {
    return errors.fail(node, fmt::format("{} \"{}\" does not exist (looked for \"{}\")", what, path, resolved.string()));
  }
  if (!std::filesystem::is_regular_file(status)) {
    return errors.fail(node, fmt::format("{} \"{}\" is not a file", what, resolved.string()));
  }
  std::FILE* file = std::fopen(resolved.c_str(), "rb");
  if (file == nullptr) {
    const std::string reason = std::error_code(errno, std::generic_category()).message();
    return errors.fail(node, fmt::format("{} \"{}\" cannot be read: {}", what, resolved.string(), reason));
  }
  std::fclose(file);
  path = resolved.string();
  return true;
}

SourcePosition position_of(const Errors& errors, const toml::node& node) {
  const auto& begin = node.source().begin;
  return SourcePosition{errors.file(), begin.line == 0 ? 1 : static_cast<int>(begin.line),
                        begin.line == 0 ? 1 : static_cast<int>(begin.column)};
}

}  // namespace haven::config::detail
