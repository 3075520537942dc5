#include <array>

#include <fmt/format.h>

#include "readable_file.hpp"
#include "sections.hpp"
#include "uri_syntax.hpp"

namespace haven::config::detail {

namespace {

// The page fetches each entry as a URL relative to itself: only a path on its own origin keeps
// visitors' browsers (and their cookies) from being sent to another host.
bool check_poll(const TableReader& maintenance, const toml::node& node, std::string_view poll) {
  Errors& errors = maintenance.errors();
  if (poll.empty() || poll.front() != '/') {
    return errors.fail(node, fmt::format("each entry of poll must start with \"/\", not {}", toml_quoted(poll)));
  }
  if (poll.size() > 1 && (poll[1] == '/' || poll[1] == '\\')) {
    return errors.fail(node, fmt::format("each entry of poll must start with a single \"/\": browsers read {} "
                                         "as an address on another host",
                                         toml_quoted(poll)));
  }
  std::string why;
  if (!check_origin_form(poll, why)) {
    return errors.fail(node, fmt::format("each entry of poll must be a URL path such as \"/healthz\": {}", why));
  }
  return true;
}

}  // namespace

bool read_maintenance(const TableReader& root, const std::filesystem::path& base_dir, Maintenance& out) {
  static constexpr std::array<std::string_view, 5> kKeys{"page", "retry_after", "poll", "poll_interval",
                                                         "recovery_spread"};
  const toml::table* table = nullptr;
  if (!root.read_table("maintenance", table)) return false;
  if (table == nullptr) return true;
  const TableReader maintenance(root.errors(), *table, "in [maintenance]");
  std::vector<const toml::node*> poll_nodes;
  if (!maintenance.allow_only(kKeys) || !maintenance.read_string("page", out.page) ||
      !maintenance.read_duration("retry_after", Duration::zero(), out.retry_after) ||
      !maintenance.read_strings("poll", out.poll, &poll_nodes) ||
      // The page polls from every open browser tab; faster than once a second is a self-inflicted load.
      // An hour is already longer than anyone waits on the page, and far longer values overflow the
      // browser's setTimeout, which then fires at once: polling in a tight loop instead of rarely.
      !maintenance.read_duration("poll_interval", Duration(1000), Duration(60 * 60 * 1000), out.poll_interval) ||
      // Ten thousand open pages coming back in the same millisecond is a load spike of its own; a
      // minute is already longer than a visitor should wait for a page that works again.
      !maintenance.read_duration("recovery_spread", Duration::zero(), Duration(60 * 1000), out.recovery_spread)) {
    return false;
  }
  for (std::size_t i = 0; i < poll_nodes.size(); ++i) {
    if (!check_poll(maintenance, *poll_nodes[i], out.poll[i])) return false;
  }
  return out.page.empty() ||
         check_readable_file(maintenance.errors(), *maintenance.find("page"), "maintenance page", base_dir, out.page);
}

}  // namespace haven::config::detail
