#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "haven/config/loader.hpp"
#include "readable_file.hpp"
#include "sections.hpp"

namespace haven::config {

const char* balance_name(Balance balance) {
  switch (balance) {
    case Balance::RoundRobin:
      return "roundrobin";
    case Balance::LeastConn:
      return "leastconn";
    case Balance::First:
      return "first";
  }
  return "roundrobin";
}

}  // namespace haven::config

namespace haven::config::detail {

namespace {

// Server names appear in logs, metrics labels and admin URLs; this alphabet needs no escaping there.
bool is_valid_server_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

// The host of an address as written ("api.internal" of "api.internal:8443", "::1" of "[::1]:443").
std::string host_of(std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    return std::string(text.substr(1, close == std::string_view::npos ? text.size() - 1 : close - 1));
  }
  return std::string(text.substr(0, text.rfind(':')));
}

bool read_server(const TableReader& server, const Backend& backend, bool backend_tls, const std::string& backend_sni,
                 Server& out) {
  static constexpr std::array<std::string_view, 7> kKeys{"name", "address", "backup", "weight", "tls", "sni", "group"};
  Errors& errors = server.errors();
  if (!server.allow_only(kKeys) ||
      !server.require("name", fmt::format("a server of backend \"{}\" needs a \"name\"", backend.name)) ||
      !server.read_string("name", out.name)) {
    return false;
  }
  const toml::node& name_node = *server.find("name");
  if (!is_valid_server_name(out.name)) {
    return errors.fail(name_node, fmt::format("server name \"{}\" may only use letters, digits, \"_\", \".\" and \"-\"",
                                              out.name));
  }
  for (const Server& earlier : backend.servers) {
    if (earlier.name == out.name) {
      return errors.fail(name_node,
                         fmt::format("server name \"{}\" appears twice in backend \"{}\"", out.name, backend.name));
    }
  }
  std::string address;
  if (!server.require("address", fmt::format("server \"{}\" of backend \"{}\" needs an \"address\"", out.name,
                                             backend.name)) ||
      !server.read_string("address", address)) {
    return false;
  }
  std::string why;
  if (!parse_address(address, out.address, why)) return errors.fail(*server.find("address"), why);
  out.tls = backend_tls;
  if (!server.read_bool("backup", out.backup) || !server.read_int("weight", 0, 256, out.weight) ||
      !server.read_bool("tls", out.tls) || !server.read_string("sni", out.sni) ||
      !server.read_string("group", out.group)) {
    return false;
  }
  if (!out.group.empty() && !is_valid_server_name(out.group)) {
    return errors.fail(*server.find("group"),
                       fmt::format("group \"{}\" may only use letters, digits, \"_\", \".\" and \"-\"", out.group));
  }
  if (out.sni.empty()) out.sni = backend_sni.empty() ? host_of(address) : backend_sni;
  return true;
}

// `tls = true`, or `tls = { verify, ca_file, cert, key, sni }`: TLS to every server of the backend
// (a server's own `tls = false` opts out).
bool read_upstream_tls(const TableReader& block, const std::filesystem::path& base_dir, Backend& out, bool& enabled,
                       std::string& sni) {
  const toml::node* node = block.find("tls");
  if (node == nullptr) return true;
  out.tls.at = position_of(block.errors(), *node);
  if (const auto* flag = node->as_boolean()) {
    enabled = flag->get();
    return true;
  }
  const toml::table* table = nullptr;
  if (!expect_table(block.errors(), *node, "tls (true, or a table of TLS settings)", table)) return false;
  enabled = true;
  static constexpr std::array<std::string_view, 5> kKeys{"verify", "ca_file", "cert", "key", "sni"};
  const TableReader tls(block.errors(), *table, fmt::format("in the tls table of backend \"{}\"", out.name));
  if (!tls.allow_only(kKeys) || !tls.read_bool("verify", out.tls.verify) || !tls.read_string("ca_file", out.tls.ca_file) ||
      !tls.read_string("cert", out.tls.cert) || !tls.read_string("key", out.tls.key) || !tls.read_string("sni", sni)) {
    return false;
  }
  Errors& errors = block.errors();
  if (out.tls.cert.empty() != out.tls.key.empty()) {
    return errors.fail(*table, "a client certificate needs both \"cert\" and \"key\"");
  }
  return (out.tls.ca_file.empty() ||
          check_readable_file(errors, *tls.find("ca_file"), "CA file", base_dir, out.tls.ca_file)) &&
         (out.tls.cert.empty() || check_readable_file(errors, *tls.find("cert"), "certificate", base_dir, out.tls.cert)) &&
         (out.tls.key.empty() || check_readable_file(errors, *tls.find("key"), "key", base_dir, out.tls.key));
}

bool read_servers(const TableReader& block, bool backend_tls, const std::string& backend_sni, Backend& backend) {
  const std::string none = fmt::format("backend \"{}\" has no servers", backend.name);
  const toml::array* servers = nullptr;
  if (!block.read_array("servers", servers)) return false;
  if (servers == nullptr) return block.fail_at_table(none);
  if (servers->empty()) return block.errors().fail(*servers, none);
  // The balancer keeps a backend's servers in a 64-bit set.
  if (servers->size() > kMaxServersPerBackend) {
    return block.errors().fail(*servers, fmt::format("backend \"{}\" has {} servers; at most {} are allowed",
                                                     backend.name, servers->size(), kMaxServersPerBackend));
  }
  const std::string what = fmt::format("each server of backend \"{}\"", backend.name);
  const std::string where = fmt::format("in a server of backend \"{}\"", backend.name);
  for (const toml::node& element : *servers) {
    const toml::table* table = nullptr;
    if (!expect_table(block.errors(), element, what, table)) return false;
    Server server;
    if (!read_server(TableReader(block.errors(), *table, where), backend, backend_tls, backend_sni, server)) {
      return false;
    }
    backend.servers.push_back(std::move(server));
  }
  return true;
}

Balance to_balance(std::string_view name) {
  if (name == "leastconn") return Balance::LeastConn;
  if (name == "first") return Balance::First;
  return Balance::RoundRobin;
}

bool read_backend(const TableReader& block, const Timeouts& defaults, const std::filesystem::path& base_dir,
                  Backend& out) {
  static constexpr std::array<std::string_view, 13> kKeys{
      "balance",    "retries",   "all_backups", "check", "timeouts", "servers", "max_response_header_bytes",
      "max_response_headers", "on_refused", "init_state", "slow_start", "tls", "stale_if_error"};
  bool tls = false;
  std::string sni;
  static constexpr std::array<std::string_view, 2> kInitStates{"checking", "up"};
  std::string init_state = "checking";
  static constexpr std::array<std::string_view, 2> kOnRefused{"mark-down", "count"};
  std::string on_refused = "mark-down";
  static constexpr std::array<std::string_view, 3> kBalances{"roundrobin", "leastconn", "first"};
  std::string balance = "roundrobin";
  out.timeouts = defaults;
  if (!block.allow_only(kKeys) || !block.read_choice("balance", kBalances, balance) ||
      !block.read_int("retries", 0, 10, out.retries) || !block.read_bool("all_backups", out.all_backups) ||
      !read_check(block, out.name, out.check) ||
      !read_timeout_overrides(block, fmt::format("backend \"{}\"", out.name), out.timeouts) ||
      !block.read_int("max_response_header_bytes", 1024, kMaxHeadBytes, out.max_response_header_bytes) ||
      !block.read_int("max_response_headers", 1, 1000, out.max_response_headers) ||
      !block.read_choice("on_refused", kOnRefused, on_refused) ||
      !block.read_choice("init_state", kInitStates, init_state) ||
      !block.read_duration("slow_start", Duration(0), Duration(3600000), out.slow_start) ||
      !read_upstream_tls(block, base_dir, out, tls, sni) || !read_servers(block, tls, sni, out) ||
      !read_stale_if_error(block, out.name, out.stale_if_error)) {
    return false;
  }
  out.init_checking = init_state == "checking";
  out.refused_marks_down = on_refused == "mark-down";
  out.balance = to_balance(balance);
  return true;
}

}  // namespace

bool read_backends(const TableReader& root, const Timeouts& defaults, const std::filesystem::path& base_dir,
                   std::vector<Backend>& out) {
  constexpr std::string_view kNone = "no backends defined (add a [backends.NAME] table with servers)";
  const toml::table* table = nullptr;
  if (!root.read_table("backends", table)) return false;
  if (table == nullptr) return root.fail_at_table(std::string(kNone));
  if (table->empty()) return root.errors().fail(*table, std::string(kNone));
  std::vector<Backend> backends;
  for (auto&& [key, node] : *table) {
    Backend backend;
    backend.name = std::string(key.str());
    const toml::table* block = nullptr;
    if (!expect_table(root.errors(), node, fmt::format("backend \"{}\"", backend.name), block)) return false;
    if (!read_backend(TableReader(root.errors(), *block, fmt::format("in backend \"{}\"", backend.name)), defaults,
                      base_dir, backend)) {
      return false;
    }
    backends.push_back(std::move(backend));
  }
  // Indexes into this vector are handed out to frontends; sorting fixes them independently of toml++.
  std::sort(backends.begin(), backends.end(), [](const Backend& a, const Backend& b) { return a.name < b.name; });
  out = std::move(backends);
  return true;
}

}  // namespace haven::config::detail
