#pragma once
// The headers the proxy acts on, recognised once per header so rewriting is a switch, not a
// string compare per rule.
#include <cstdint>
#include <string_view>

namespace haven::http {

enum class HeaderKind : std::uint8_t {
  Other,
  Host,
  Connection,
  KeepAlive,
  ProxyConnection,
  Te,
  Trailer,
  Upgrade,
  TransferEncoding,
  ContentLength,
  XForwardedFor,
  XForwardedProto,
  Expect,
  Accept,
  IfNoneMatch,
  Http2Settings,
  Dropped,  // not forwarded: a name with '_' under underscores_in_headers = "drop"
};

HeaderKind classify_header(std::string_view name);

bool iequals(std::string_view a, std::string_view b);

// True for headers that describe one hop only and never travel through a proxy as-is
// (RFC 9110 section 7.6.1), plus the framing headers haven always rewrites itself.
constexpr bool is_hop_by_hop_or_framing(HeaderKind kind) {
  switch (kind) {
    case HeaderKind::Connection:
    case HeaderKind::KeepAlive:
    case HeaderKind::ProxyConnection:
    case HeaderKind::Te:
    case HeaderKind::Trailer:
    case HeaderKind::Upgrade:
    case HeaderKind::TransferEncoding:
    case HeaderKind::ContentLength:
    case HeaderKind::Http2Settings:  // belongs to an h2c upgrade, which is never forwarded
    case HeaderKind::Dropped:
      return true;
    default:
      return false;
  }
}

}  // namespace haven::http
