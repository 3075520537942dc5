#pragma once
// One reader per part of the file. Each takes the reader of the enclosing table, fills its part of the
// Config, and returns false after recording the first problem in the reader's Errors.
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "haven/config/config.hpp"
#include "table_reader.hpp"

namespace haven::config::detail {

// [global]
bool read_global(const TableReader& root, Global& out);
// [admin]; a relative state_file is resolved against `base_dir`.
bool read_admin(const TableReader& root, const std::filesystem::path& base_dir, Admin& out);
// [log]
bool read_log(const TableReader& root, Log& out);
// [timeouts]
bool read_timeouts_section(const TableReader& root, Timeouts& out);
// The `timeouts` table of a frontend or backend, applied over `inout` (which holds [timeouts]).
// `owner` names the block in messages ("frontend \"web\"").
bool read_timeout_overrides(const TableReader& block, std::string_view owner, Timeouts& inout);
// [maintenance]; a relative page path is resolved against `base_dir`, the config file's directory.
bool read_maintenance(const TableReader& root, const std::filesystem::path& base_dir, Maintenance& out);
// The `check` table of a backend; `out` stays empty when there is none.
bool read_check(const TableReader& backend, std::string_view backend_name, std::optional<Check>& out);
// [backends.*], sorted by name, timeouts merged over `defaults`; relative TLS file paths are
// resolved against `base_dir`.
bool read_backends(const TableReader& root, const Timeouts& defaults, const std::filesystem::path& base_dir,
                   std::vector<Backend>& out);
// [frontends.*], sorted by name; every backend name is resolved against `backends` (sorted by name);
// relative certificate paths are resolved against `base_dir`.
bool read_frontends(const TableReader& root, const Timeouts& defaults, const std::vector<Backend>& backends,
                    const std::filesystem::path& base_dir, std::vector<Frontend>& out);
// The `stale_if_error` table of backend `name`; `out` stays disabled when there is none.
bool read_stale_if_error(const TableReader& backend, std::string_view name, StaleIfError& out);
// The `tls` table of frontend `name`; `out` stays disabled when there is none.
bool read_frontend_tls(const TableReader& frontend, std::string_view name, const std::filesystem::path& base_dir,
                       FrontendTls& out);

}  // namespace haven::config::detail
