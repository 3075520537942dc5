#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "haven/config/loader.hpp"
#include "sections.hpp"
#include "suggest.hpp"

namespace haven::config::detail {

namespace {

// Resolves a backend name to its index in `backends` (sorted by name), or fails at `node`.
// `role` says which setting named it ("route", "default_backend").
bool find_backend(Errors& errors, const toml::node& node, std::string_view role, std::string_view name,
                  const std::vector<Backend>& backends, std::size_t& index) {
  const auto found = std::lower_bound(backends.begin(), backends.end(), name,
                                      [](const Backend& backend, std::string_view key) { return backend.name < key; });
  if (found != backends.end() && found->name == name) {
    index = static_cast<std::size_t>(found - backends.begin());
    return true;
  }
  std::vector<std::string_view> names;
  names.reserve(backends.size());
  for (const Backend& backend : backends) names.emplace_back(backend.name);
  return errors.fail(node, fmt::format("{} names backend \"{}\", which is not defined{}", role, name,
                                       did_you_mean(name, names)));
}

bool read_route(const TableReader& route, std::string_view frontend, const std::vector<Backend>& backends,
                Route& out) {
  static constexpr std::array<std::string_view, 2> kKeys{"path_prefix", "backend"};
  if (!route.allow_only(kKeys) ||
      !route.require("path_prefix", fmt::format("a route of frontend \"{}\" needs a \"path_prefix\"", frontend)) ||
      !route.read_string("path_prefix", out.path_prefix)) {
    return false;
  }
  if (out.path_prefix.empty() || out.path_prefix.front() != '/') {
    return route.errors().fail(*route.find("path_prefix"),
                               fmt::format("path_prefix must start with \"/\", not \"{}\"", out.path_prefix));
  }
  return route.require("backend", fmt::format("a route of frontend \"{}\" needs a \"backend\"", frontend)) &&
         route.read_string("backend", out.backend) &&
         find_backend(route.errors(), *route.find("backend"), "route", out.backend, backends, out.backend_index);
}

bool read_routes(const TableReader& block, const std::vector<Backend>& backends, Frontend& out) {
  const toml::array* routes = nullptr;
  if (!block.read_array("routes", routes)) return false;
  if (routes == nullptr) return true;
  const std::string where = fmt::format("in a route of frontend \"{}\"", out.name);
  for (const toml::node& element : *routes) {
    const toml::table* table = nullptr;
    if (!expect_table(block.errors(), element, "each route", table)) return false;
    Route route;
    if (!read_route(TableReader(block.errors(), *table, where), out.name, backends, route)) return false;
    out.routes.push_back(std::move(route));
  }
  return true;
}

bool read_maintenance_requires(const TableReader& block, const std::vector<Backend>& backends, Frontend& out) {
  std::vector<const toml::node*> nodes;
  if (!block.read_strings("maintenance_requires", out.maintenance_requires, &nodes)) return false;
  out.maintenance_requires_indexes.clear();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    std::size_t index = 0;
    if (!find_backend(block.errors(), *nodes[i], "maintenance_requires", out.maintenance_requires[i], backends,
                      index)) {
      return false;
    }
    out.maintenance_requires_indexes.push_back(index);
  }
  return true;
}

bool read_bind(const TableReader& block, Frontend& out) {
  std::string bind;
  if (!block.require("bind", fmt::format("frontend \"{}\" needs a \"bind\" address", out.name)) ||
      !block.read_string("bind", bind)) {
    return false;
  }
  std::string why;
  if (!parse_bind_address(bind, out.bind, why)) return block.errors().fail(*block.find("bind"), why);
  return true;
}

// "512B/s", "1KiB/s", "2MiB/s"; "" or "0B/s" is off.
bool read_min_body_rate(const TableReader& block, std::uint64_t& out) {
  std::string text;
  if (!block.read_string("min_body_rate", text) || text.empty()) return true;
  std::uint64_t number = 0;
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9' && number < (1ULL << 40)) {
    number = number * 10 + static_cast<std::uint64_t>(text[i++] - '0');
  }
  const std::string_view unit = std::string_view(text).substr(i);
  const std::uint64_t scale = unit == "B/s" ? 1 : unit == "KiB/s" ? 1024 : unit == "MiB/s" ? 1048576 : 0;
  if (i == 0 || scale == 0 || number > (1ULL << 30)) {
    return block.errors().fail(*block.find("min_body_rate"),
                               fmt::format("min_body_rate must be a rate such as \"1KiB/s\" (B/s, KiB/s or MiB/s), "
                                           "not \"{}\"",
                                           text));
  }
  out = number * scale;
  return true;
}

// redirect_https, https_port and hsts, which only make sense on one kind of frontend each.
bool read_https_settings(const TableReader& block, Frontend& out) {
  if (!block.read_bool("redirect_https", out.redirect_https) || !block.read_int("https_port", 1, 65535, out.https_port) ||
      !block.read_string("hsts", out.hsts)) {
    return false;
  }
  Errors& errors = block.errors();
  if (out.redirect_https && out.tls.enabled()) {
    return errors.fail(*block.find("redirect_https"),
                       "redirect_https is for plain-HTTP frontends; this one already speaks TLS");
  }
  if (!out.hsts.empty()) {
    if (!out.tls.enabled()) {
      return errors.fail(*block.find("hsts"), "hsts is sent on TLS frontends only (browsers ignore it over http)");
    }
    // max-age=SECONDS, then optional directives; no byte that could end the header line.
    const std::string_view value = out.hsts;
    std::size_t digits = 0;
    while (8 + digits < value.size() && value[8 + digits] >= '0' && value[8 + digits] <= '9') ++digits;
    bool printable = true;
    for (const char c : value) printable = printable && c >= 0x20 && c < 0x7f;
    if (value.substr(0, 8) != "max-age=" || digits == 0 || !printable) {
      return errors.fail(*block.find("hsts"),
                         fmt::format("hsts must be a Strict-Transport-Security value such as "
                                     "\"max-age=31536000; includeSubDomains\", not \"{}\"",
                                     out.hsts));
    }
  }
  return true;
}

// status_path: "" (no feed) or an absolute path with no query, fragment or byte a request line
// could not carry as is.
bool read_status_path(const TableReader& block, Frontend& out) {
  if (!block.read_string("status_path", out.status_path)) return false;
  const std::string_view path = out.status_path;
  if (path.empty()) return true;
  bool plain = path.size() <= 256;
  for (const char c : path) plain = plain && c > 0x20 && c < 0x7f && c != '?' && c != '#';
  if (path.front() != '/' || !plain) {
    return block.errors().fail(*block.find("status_path"),
                               fmt::format("status_path must be a path such as \"/.haven/status\" (no query, "
                                           "at most 256 bytes) or \"\" for no status feed, not \"{}\"",
                                           out.status_path));
  }
  return true;
}

// The backends the status feed reports, each once, in order of first mention.
void list_status_backends(Frontend& out) {
  auto& list = out.status_backend_indexes;
  list.clear();
  const auto add = [&list](std::size_t index) {
    if (std::find(list.begin(), list.end(), index) == list.end()) list.push_back(index);
  };
  add(out.default_backend_index);
  for (const Route& route : out.routes) add(route.backend_index);
  for (const std::size_t index : out.maintenance_requires_indexes) add(index);
}

bool read_frontend(const TableReader& block, const Timeouts& defaults, const std::vector<Backend>& backends,
                   const std::filesystem::path& base_dir, Frontend& out) {
  static constexpr std::array<std::string_view, 14> kKeys{
      "bind",          "default_backend",        "routes",        "maintenance_requires", "timeouts",
      "max_header_bytes", "max_headers",         "underscores_in_headers", "min_body_rate", "tls",
      "redirect_https",   "https_port",          "hsts",          "status_path"};
  static constexpr std::array<std::string_view, 3> kUnderscores{"drop", "reject", "allow"};
  std::string underscores = "drop";
  out.timeouts = defaults;
  if (!block.allow_only(kKeys) || !block.read_choice("underscores_in_headers", kUnderscores, underscores) ||
      !read_min_body_rate(block, out.min_body_rate)) {
    return false;
  }
  out.underscores_in_headers = underscores == "reject"  ? HeaderUnderscores::Reject
                               : underscores == "allow" ? HeaderUnderscores::Allow
                                                        : HeaderUnderscores::Drop;
  const bool read = read_bind(block, out) &&
         block.require("default_backend", fmt::format("frontend \"{}\" needs a \"default_backend\"", out.name)) &&
         block.read_string("default_backend", out.default_backend) &&
         find_backend(block.errors(), *block.find("default_backend"), "default_backend", out.default_backend,
                      backends, out.default_backend_index) &&
         read_routes(block, backends, out) && read_maintenance_requires(block, backends, out) &&
         read_timeout_overrides(block, fmt::format("frontend \"{}\"", out.name), out.timeouts) &&
         block.read_int("max_header_bytes", 1024, kMaxHeadBytes, out.max_header_bytes) &&
         block.read_int("max_headers", 1, 1000, out.max_headers) &&
         read_frontend_tls(block, out.name, base_dir, out.tls) && read_https_settings(block, out) &&
         read_status_path(block, out);
  if (read) list_status_backends(out);
  return read;
}

// Two listeners on one address would fail at bind time, after the old configuration was let go;
// refusing here keeps a reload from getting that far. Port 0 asks the OS for a fresh port, so it
// never collides.
bool check_bind_unique(Errors& errors, const toml::node& node, const Frontend& frontend,
                       const std::vector<Frontend>& earlier) {
  if (frontend.bind.port == 0) return true;
  for (const Frontend& other : earlier) {
    if (other.bind.port == frontend.bind.port && other.bind.host == frontend.bind.host) {
      return errors.fail(node, fmt::format("frontend \"{}\" binds \"{}\", which frontend \"{}\" already binds",
                                           frontend.name, frontend.bind.text, other.name));
    }
  }
  return true;
}

}  // namespace

bool read_frontends(const TableReader& root, const Timeouts& defaults, const std::vector<Backend>& backends,
                    const std::filesystem::path& base_dir, std::vector<Frontend>& out) {
  constexpr std::string_view kNone = "no frontends defined (add a [frontends.NAME] table)";
  const toml::table* table = nullptr;
  if (!root.read_table("frontends", table)) return false;
  if (table == nullptr) return root.fail_at_table(std::string(kNone));
  if (table->empty()) return root.errors().fail(*table, std::string(kNone));
  std::vector<Frontend> frontends;
  for (auto&& [key, node] : *table) {
    Frontend frontend;
    frontend.name = std::string(key.str());
    const toml::table* block = nullptr;
    if (!expect_table(root.errors(), node, fmt::format("frontend \"{}\"", frontend.name), block)) return false;
    const TableReader reader(root.errors(), *block, fmt::format("in frontend \"{}\"", frontend.name));
    if (!read_frontend(reader, defaults, backends, base_dir, frontend) ||
        !check_bind_unique(root.errors(), *reader.find("bind"), frontend, frontends)) {
      return false;
    }
    frontends.push_back(std::move(frontend));
  }
  std::sort(frontends.begin(), frontends.end(),
            [](const Frontend& a, const Frontend& b) { return a.name < b.name; });
  out = std::move(frontends);
  return true;
}

}  // namespace haven::config::detail
