#include <array>

#include <fmt/format.h>

#include "sections.hpp"
#include "status_ranges.hpp"
#include "uri_syntax.hpp"

namespace haven::config::detail {

namespace {

// `path` and `host` are written verbatim into the check's request head (see health's check_request):
// a space, CR or LF in them would break the request line or inject headers.
bool read_path(const TableReader& check, std::string& out) {
  const toml::node* node = check.find("path");
  if (node == nullptr) return true;
  std::string path;
  if (!expect_string(check.errors(), *node, "path", path)) return false;
  if (path.empty() || path.front() != '/') {
    return check.errors().fail(*node, fmt::format("path must start with \"/\", not {}", toml_quoted(path)));
  }
  std::string why;
  if (!check_origin_form(path, why)) {
    return check.errors().fail(*node, fmt::format("path must be a request target such as \"/healthz\": {}", why));
  }
  out = std::move(path);
  return true;
}

bool read_host(const TableReader& check, std::string& out) {
  const toml::node* node = check.find("host");
  if (node == nullptr) return true;
  std::string host;
  if (!expect_string(check.errors(), *node, "host", host)) return false;
  std::string why;
  // Empty keeps its meaning: the server's own address.
  if (!host.empty() && !check_host_and_port(host, why)) {
    return check.errors().fail(
        *node, fmt::format("host must be a host name or address with an optional port, such as "
                           "\"api.internal:8080\": {}",
                           why));
  }
  out = std::move(host);
  return true;
}

bool read_expect_status(const TableReader& check, std::vector<StatusRange>& out) {
  const toml::node* node = check.find("expect_status");
  if (node == nullptr) return true;
  const auto* value = node->as_string();
  if (value == nullptr) {
    return check.errors().fail(*node, "expect_status must be a string such as \"200-399\" or \"200,204\"");
  }
  std::string why;
  if (!parse_status_ranges(value->get(), out, why)) {
    return check.errors().fail(*node, fmt::format("bad expect_status \"{}\": {}", value->get(), why));
  }
  return true;
}

}  // namespace

bool read_check(const TableReader& backend, std::string_view backend_name, std::optional<Check>& out) {
  static constexpr std::array<std::string_view, 10> kKeys{
      "method", "path", "host", "interval", "fast_interval", "down_interval", "timeout", "rise", "fall",
      "expect_status"};
  static constexpr std::array<std::string_view, 2> kMethods{"GET", "HEAD"};
  constexpr Duration kPositive{1};
  out.reset();
  const toml::table* table = nullptr;
  if (!backend.read_table("check", table)) return false;
  if (table == nullptr) return true;
  const TableReader check(backend.errors(), *table, fmt::format("in the check of backend \"{}\"", backend_name));
  Check result;
  if (!check.allow_only(kKeys) || !check.read_choice("method", kMethods, result.method) ||
      !read_path(check, result.path) || !read_host(check, result.host) ||
      !check.read_duration("interval", kPositive, result.interval)) {
    return false;
  }
  // The faster and slower cadences follow `interval` unless given, so one key tunes all three.
  result.fast_interval = result.interval;
  result.down_interval = result.interval;
  if (!check.read_duration("fast_interval", kPositive, result.fast_interval) ||
      !check.read_duration("down_interval", kPositive, result.down_interval) ||
      !check.read_duration("timeout", kPositive, result.timeout) || !check.read_int("rise", 1, 100, result.rise) ||
      !check.read_int("fall", 1, 100, result.fall) || !read_expect_status(check, result.expect_status)) {
    return false;
  }
  out = std::move(result);
  return true;
}

}  // namespace haven::config::detail
