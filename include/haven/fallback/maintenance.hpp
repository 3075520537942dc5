#pragma once
// What haven answers itself when a backend has no usable server: 503 with Retry-After and
// Cache-Control: no-store, as the maintenance page for browsers or as a small JSON body for
// everything else. Built once per configuration, served without any formatting.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "haven/config/config.hpp"
#include "haven/core/result.hpp"

namespace haven::fallback {

// The page in static/maintenance.html, compiled in.
std::string_view bundled_maintenance_page();

// What a frontend's page needs to follow haven's status feed: where the feed is, and which
// backends the visitor's page depends on (its own, found by the routes, and maintenance_requires).
struct PageFeed {
  std::string_view status_path;  // "" = the frontend has no feed: the page polls the health URLs
  std::vector<std::pair<std::string_view, std::string_view>> routes;  // path prefix, backend
  std::string_view default_backend;
  std::vector<std::string_view> required;  // maintenance_requires
};
PageFeed page_feed(const config::Frontend& frontend);

// The page with its configuration block (between /*haven:config*/ and /*haven:end*/) set to
// the poll URLs and interval of `maintenance`, and to `feed` when given. A page without the
// markers is returned as is.
std::string fill_page_config(std::string_view page, const config::Maintenance& maintenance,
                             const PageFeed* feed = nullptr);

// Accept lists text/html (or text/*) with a non-zero quality: a browser wants a page.
bool accepts_html(std::string_view accept);

class MaintenanceResponses {
 public:
  // Loads maintenance.page (or the bundled page) and serialises every response.
  static core::Result<MaintenanceResponses, std::string> build(const config::Config& config);

  // The page as frontend `frontend_index` serves it (its feed settings filled in).
  [[nodiscard]] std::string_view html(std::size_t frontend_index, bool head_only) const {
    const std::size_t i = frontend_index < html_.size() ? frontend_index : html_.size() - 1;
    return head_only ? html_heads_[i] : html_[i];
  }
  [[nodiscard]] std::string_view json(std::size_t backend_index, bool head_only) const {
    return head_only ? json_heads_[backend_index] : json_[backend_index];
  }
  // Whether `path` (without query) is one of the URLs the page polls.
  [[nodiscard]] bool is_poll_path(std::string_view target) const;

 private:
  std::vector<std::string> html_;        // per frontend (one page when there is none)
  std::vector<std::string> html_heads_;
  std::vector<std::string> json_;        // per backend, same order as Config::backends
  std::vector<std::string> json_heads_;
  std::vector<std::string> poll_paths_;
};

}  // namespace haven::fallback
