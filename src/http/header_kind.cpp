#include "haven/http/header_kind.hpp"

namespace haven::http {

namespace {
constexpr char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

HeaderKind classify_header(std::string_view name) {
  // Dispatch on length first: most headers are rejected after one integer compare.
  switch (name.size()) {
    case 2:
      if (iequals(name, "te")) return HeaderKind::Te;
      break;
    case 4:
      if (iequals(name, "host")) return HeaderKind::Host;
      break;
    case 6:
      if (iequals(name, "expect")) return HeaderKind::Expect;
      if (iequals(name, "accept")) return HeaderKind::Accept;
      break;
    case 7:
      if (iequals(name, "upgrade")) return HeaderKind::Upgrade;
      if (iequals(name, "trailer")) return HeaderKind::Trailer;
      break;
    case 10:
      if (iequals(name, "connection")) return HeaderKind::Connection;
      if (iequals(name, "keep-alive")) return HeaderKind::KeepAlive;
      break;
    case 13:
      if (iequals(name, "if-none-match")) return HeaderKind::IfNoneMatch;
      break;
    case 14:
      if (iequals(name, "content-length")) return HeaderKind::ContentLength;
      if (iequals(name, "http2-settings")) return HeaderKind::Http2Settings;
      break;
    case 15:
      if (iequals(name, "x-forwarded-for")) return HeaderKind::XForwardedFor;
      break;
    case 16:
      if (iequals(name, "proxy-connection")) return HeaderKind::ProxyConnection;
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) return HeaderKind::TransferEncoding;
      if (iequals(name, "x-forwarded-proto")) return HeaderKind::XForwardedProto;
      break;

    default:
      break;
  }
  return HeaderKind::Other;
}

}  // namespace haven::http
