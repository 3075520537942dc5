#pragma once
// A file named in the configuration that haven reads later (a page, a certificate, a key): checked
// when the configuration is loaded, so a typo refuses the configuration instead of failing later.
#include <filesystem>
#include <string>
#include <string_view>

#include "haven/config/config.hpp"
#include "table_reader.hpp"

namespace haven::config::detail {

// Resolves `path` against `base_dir` when relative, and fails at `node` unless it names a
// readable regular file. `what` names it in messages ("maintenance page", "certificate").
bool check_readable_file(Errors& errors, const toml::node& node, std::string_view what,
                         const std::filesystem::path& base_dir, std::string& path);

// Where `node` was written.
SourcePosition position_of(const Errors& errors, const toml::node& node);

}  // namespace haven::config::detail
