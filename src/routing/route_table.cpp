#include "haven/routing/route_table.hpp"

namespace haven::routing {

bool path_prefix_matches(std::string_view prefix, std::string_view target) {
  if (target.size() < prefix.size() || target.compare(0, prefix.size(), prefix) != 0) return false;
  if (target.size() == prefix.size() || (!prefix.empty() && prefix.back() == '/')) return true;
  const char next = target[prefix.size()];
  return next == '/' || next == '?' || next == '#';
}

std::string_view origin_path(std::string_view target) {
  if (target.empty() || target[0] == '/' || target == "*") return target;
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return target;
  const auto path_start = target.find_first_of("/?", scheme_end + 3);
  if (path_start == std::string_view::npos) return "/";
  return target.substr(path_start);
}

RouteTable::RouteTable(const config::Frontend& frontend) : default_backend_index_(frontend.default_backend_index) {
  entries_.reserve(frontend.routes.size());
  for (const auto& route : frontend.routes) entries_.push_back({route.path_prefix, route.backend_index});
}

std::size_t RouteTable::backend_for(std::string_view target) const {
  const auto path = origin_path(target);
  for (const auto& entry : entries_) {
    if (path_prefix_matches(entry.prefix, path)) return entry.backend_index;
  }
  return default_backend_index_;
}

}  // namespace haven::routing
