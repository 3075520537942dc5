#include "haven/proxy/stale_policy.hpp"

#include "haven/http/head_writer.hpp"
#include "haven/http/header_kind.hpp"
#include "haven/http/method.hpp"
#include "haven/routing/route_table.hpp"

namespace haven::proxy {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Cache-Control directive names ("private", "no-store"), also with arguments (private="x").
bool has_directive(std::string_view list, std::string_view directive) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    item = trim(item.substr(0, item.find('=')));
    if (http::iequals(item, directive)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::string_view request_field(const http::MessageHead& request, const char* base, std::string_view name) {
  const http::Header* field = request.find_named(name, base);
  return field != nullptr ? field->value.view(base) : std::string_view();
}

StaleRequest stale_request_verdict(const http::MessageHead& request, const char* base,
                                   std::span<const std::string> paths, bool storing) {
  const bool get = request.method == http::Method::Get;
  if (!get && (storing || request.method != http::Method::Head)) return StaleRequest::Method;
  if (request.upgrade) return StaleRequest::Method;
  if (request.find_named("authorization", base) != nullptr) return StaleRequest::Authorization;
  if (!paths.empty()) {
    const std::string_view target = routing::origin_path(request.target.view(base));
    bool listed = false;
    for (const auto& prefix : paths) listed = listed || routing::path_prefix_matches(prefix, target);
    if (!listed) return StaleRequest::Path;
  }
  return StaleRequest::Eligible;
}

StaleResponse stale_response_verdict(const http::MessageHead& response, const char* base, std::uint64_t max_entry,
                                     std::vector<std::string>& vary_names, bool request_cookie) {
  bool shared = false;  // Cache-Control: public or s-maxage
  if (response.status != 200) return StaleResponse::Status;
  if (response.transfer_codings) return StaleResponse::Codings;
  if (response.framing == http::BodyFraming::ContentLength && response.content_length > max_entry) {
    return StaleResponse::TooLarge;
  }
  vary_names.clear();
  for (const auto& header : response.headers) {
    const std::string_view name = header.name.view(base);
    const std::string_view value = header.value.view(base);
    if (http::iequals(name, "set-cookie")) return StaleResponse::SetCookie;
    if (http::iequals(name, "cache-control")) {
      if (has_directive(value, "private") || has_directive(value, "no-store")) return StaleResponse::Private;
      shared = shared || has_directive(value, "public") || has_directive(value, "s-maxage");
    }
    if (http::iequals(name, "vary")) {
      std::string_view list = value;
      while (!list.empty()) {
        const auto comma = list.find(',');
        const std::string_view item = trim(list.substr(0, comma));
        if (item == "*") return StaleResponse::VaryAll;
        if (!item.empty()) {
          std::string lower(item);
          for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
          vary_names.push_back(std::move(lower));
        }
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
    }
  }
  if (request_cookie && !shared) return StaleResponse::Personal;
  return StaleResponse::Keep;
}

void stale_key(std::string& out, const http::MessageHead& request, const char* base) {
  out.clear();
  if (const auto* host = request.find(http::HeaderKind::Host)) {
    for (const char c : host->value.view(base)) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  out.push_back(' ');
  out.append(routing::origin_path(request.target.view(base)));
}

}  // namespace haven::proxy
