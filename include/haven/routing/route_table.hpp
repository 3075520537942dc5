#pragma once
// Request path -> backend. Pure: no I/O, no allocation per lookup.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "haven/config/config.hpp"

namespace haven::routing {

// `/api` matches `/api`, `/api/...` and `/api?...`, never `/apis`: a prefix ends at a segment
// boundary. A prefix that itself ends in '/' matches everything below it.
bool path_prefix_matches(std::string_view prefix, std::string_view target);

class RouteTable {
 public:
  explicit RouteTable(const config::Frontend& frontend);
  // Index into Config::backends of the backend serving `target` (origin-form or absolute-form).
  [[nodiscard]] std::size_t backend_for(std::string_view target) const;

 private:
  struct Entry {
    std::string prefix;
    std::size_t backend_index;
  };
  std::vector<Entry> entries_;
  std::size_t default_backend_index_;
};

// The path of a request target: "/x?y" -> "/x?y"; "http://host/x?y" -> "/x?y"; "*" -> "*".
std::string_view origin_path(std::string_view target);

}  // namespace haven::routing
