#include <array>

#include <fmt/format.h>

#include "sections.hpp"

namespace haven::config::detail {

namespace {

constexpr std::array<std::string_view, 8> kTimeoutKeys{"connect",    "client", "server",   "http_request",
                                                       "keep_alive", "tunnel", "shutdown", "tls_handshake"};

bool read_timeouts(const TableReader& table, Timeouts& inout) {
  // A zero timeout would fire at once; only the shutdown grace may be zero ("stop now").
  constexpr Duration kPositive{1};
  return table.allow_only(kTimeoutKeys) &&
         table.read_duration("connect", kPositive, inout.connect) &&
         table.read_duration("client", kPositive, inout.client) &&
         table.read_duration("server", kPositive, inout.server) &&
         table.read_duration("http_request", kPositive, inout.http_request) &&
         table.read_duration("keep_alive", kPositive, inout.keep_alive) &&
         table.read_duration("tunnel", kPositive, inout.tunnel) &&
         table.read_duration("shutdown", Duration::zero(), inout.shutdown) &&
         table.read_duration("tls_handshake", kPositive, inout.tls_handshake);
}

}  // namespace

bool read_timeouts_section(const TableReader& root, Timeouts& out) {
  const toml::table* table = nullptr;
  if (!root.read_table("timeouts", table)) return false;
  return table == nullptr || read_timeouts(TableReader(root.errors(), *table, "in [timeouts]"), out);
}

bool read_timeout_overrides(const TableReader& block, std::string_view owner, Timeouts& inout) {
  const toml::table* table = nullptr;
  if (!block.read_table("timeouts", table)) return false;
  if (table == nullptr) return true;
  return read_timeouts(TableReader(block.errors(), *table, fmt::format("in the timeouts of {}", owner)), inout);
}

}  // namespace haven::config::detail
