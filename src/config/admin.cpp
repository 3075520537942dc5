#include <array>

#include "haven/config/loader.hpp"
#include "sections.hpp"

namespace haven::config {

bool Admin::loopback_only() const {
  if (!unix_path.empty()) return true;
  if (bind.is_ipv6) return bind.host == "::1";
  return bind.host.starts_with("127.");
}

namespace detail {

bool read_admin(const TableReader& root, const std::filesystem::path& base_dir, Admin& out) {
  static constexpr std::array<std::string_view, 6> kKeys{"bind", "token", "read_token_required", "state_file",
                                                         "healthy_when", "health_file"};
  static constexpr std::array<std::string_view, 2> kHealthyWhen{"running", "serving"};
  std::string healthy_when = "serving";
  const toml::table* table = nullptr;
  if (!root.read_table("admin", table)) return false;
  if (table == nullptr) return true;
  out.enabled = true;
  const TableReader admin(root.errors(), *table, "in [admin]");
  std::string bind = "127.0.0.1:9000";
  if (!admin.allow_only(kKeys) || !admin.read_string("bind", bind) || !admin.read_string("token", out.token) ||
      !admin.read_bool("read_token_required", out.read_token_required) ||
      !admin.read_string("state_file", out.state_file) || !admin.read_choice("healthy_when", kHealthyWhen, healthy_when) ||
      !admin.read_string("health_file", out.health_file)) {
    return false;
  }
  out.healthy_needs_serving = healthy_when == "serving";
  const toml::node* bind_node = admin.find("bind");
  const auto fail_at = [&](const toml::node* node, std::string message) {
    return node != nullptr ? admin.errors().fail(*node, std::move(message)) : admin.fail_at_table(std::move(message));
  };
  if (bind.starts_with("unix:")) {
    // Who may connect is then up to the file's permissions (the socket is made 0660).
    std::filesystem::path path(bind.substr(5));
    if (path.empty()) return fail_at(bind_node, "an admin unix socket needs a path after \"unix:\"");
    if (path.is_relative()) path = base_dir / path;
    out.unix_path = path.string();
    // sockaddr_un holds 108 bytes, the terminating NUL included.
    if (out.unix_path.size() > 107) {
      return fail_at(bind_node, "the admin unix socket's path is longer than the 107 bytes a socket address holds");
    }
    out.bind.text = bind;
  } else {
    std::string why;
    if (!parse_bind_address(bind, out.bind, why)) return fail_at(bind_node, why);
  }
  if (const toml::node* token = admin.find("token"); token != nullptr) {
    if (out.token.size() < 16) return admin.errors().fail(*token, "the admin token must be at least 16 characters long");
    for (const char c : out.token) {
      if (c <= ' ' || c > '~') return admin.errors().fail(*token, "the admin token may only use printable ASCII without spaces");
    }
  }
  if (out.token.empty() && !out.loopback_only()) {
    return fail_at(bind_node, "an admin listener reachable from other machines needs a \"token\" (or bind it to "
                              "127.0.0.1, ::1 or a unix socket)");
  }
  if (out.token.empty() && out.read_token_required) {
    return admin.errors().fail(*admin.find("read_token_required"), "read_token_required needs a \"token\"");
  }
  if (!out.state_file.empty() && std::filesystem::path(out.state_file).is_relative()) {
    out.state_file = (base_dir / out.state_file).string();
  }
  if (!out.health_file.empty() && std::filesystem::path(out.health_file).is_relative()) {
    out.health_file = (base_dir / out.health_file).string();
  }
  return true;
}

}  // namespace detail

}  // namespace haven::config
