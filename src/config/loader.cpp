#include "haven/config/loader.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "sections.hpp"
#include "table_reader.hpp"

namespace haven::config {

namespace {

ConfigError syntax_error(const std::string& source_name, const toml::parse_error& error) {
  const auto& begin = error.source().begin;
  return ConfigError{source_name, static_cast<int>(begin.line), static_cast<int>(begin.column),
                     std::string(error.description())};
}

// Sections are read in dependency order: [timeouts] before the blocks that override it, backends
// before the frontends that name them.
bool read_document(const detail::TableReader& root, const std::filesystem::path& base_dir, Config& config) {
  static constexpr std::array<std::string_view, 7> kKeys{"global",      "admin",     "log",     "timeouts",
                                                         "maintenance", "frontends", "backends"};
  return root.allow_only(kKeys) && detail::read_global(root, config.global) &&
         detail::read_admin(root, base_dir, config.admin) && detail::read_log(root, config.log) &&
         detail::read_timeouts_section(root, config.timeouts) &&
         detail::read_maintenance(root, base_dir, config.maintenance) &&
         detail::read_backends(root, config.timeouts, base_dir, config.backends) &&
         detail::read_frontends(root, config.timeouts, config.backends, base_dir, config.frontends);
}

ConfigResult parse_document(std::string_view text, const std::string& source_name) {
  toml::table root;
  // Debian's libtomlplusplus is built with exceptions, but the header decides per translation unit;
  // both spellings are handled so that a build without exceptions keeps working.
#if TOML_EXCEPTIONS
  try {
    root = toml::parse(text, std::string_view(source_name));
  } catch (const toml::parse_error& error) {
    return syntax_error(source_name, error);
  }
#else
  toml::parse_result parsed = toml::parse(text, std::string_view(source_name));
  if (!parsed) return syntax_error(source_name, parsed.error());
  root = std::move(parsed).table();
#endif
  detail::Errors errors(source_name);
  Config config;
  config.source = source_name;
  const detail::TableReader reader(errors, root, "at the top level");
  if (!read_document(reader, std::filesystem::path(source_name).parent_path(), config)) return errors.error();
  return config;
}

std::string errno_message(int code) { return std::error_code(code, std::generic_category()).message(); }

}  // namespace

ConfigResult parse_config(std::string_view text, const std::string& source_name) {
  // Only allocation failures and the like can get here; they still must not escape the module.
  try {
    return parse_document(text, source_name);
  } catch (const std::exception& error) {
    return ConfigError{source_name, 0, 0, fmt::format("cannot load the configuration: {}", error.what())};
  } catch (...) {
    return ConfigError{source_name, 0, 0, "cannot load the configuration: unknown error"};
  }
}

ConfigResult load_config_file(const std::string& path) {
  try {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
      return ConfigError{path, 0, 0, fmt::format("cannot open the configuration file: {}", errno_message(errno))};
    }
    std::string text;
    std::array<char, 8192> chunk{};
    std::size_t count = 0;
    while ((count = std::fread(chunk.data(), 1, chunk.size(), file)) > 0) text.append(chunk.data(), count);
    const bool failed = std::ferror(file) != 0;
    const int read_errno = errno;
    std::fclose(file);
    if (failed) {
      return ConfigError{path, 0, 0, fmt::format("cannot read the configuration file: {}", errno_message(read_errno))};
    }
    return parse_config(text, path);
  } catch (const std::exception& error) {
    return ConfigError{path, 0, 0, fmt::format("cannot load the configuration: {}", error.what())};
  }
}

}  // namespace haven::config
