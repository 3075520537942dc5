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

// The page with its configuration block (between /*haven:config*/ and /*haven:end*/) set to
// the poll URLs and interval of `maintenance`. A page without the markers is returned as is.
std::string fill_page_config(std::string_view page, const config::Maintenance& maintenance);

// Accept lists text/html (or text/*) with a non-zero quality: a browser wants a page.
bool accepts_html(std::string_view accept);

class MaintenanceResponses {
 public:
  // Loads maintenance.page (or the bundled page) and serialises every response.
  static core::Result<MaintenanceResponses, std::string> build(const config::Config& config);

  [[nodiscard]] std::string_view html(bool head_only) const { return head_only ? html_head_ : html_; }
  [[nodiscard]] std::string_view json(std::size_t backend_index, bool head_only) const {
    return head_only ? json_heads_[backend_index] : json_[backend_index];
  }
  // Whether `path` (without query) is one of the URLs the page polls.
  [[nodiscard]] bool is_poll_path(std::string_view target) const;

 private:
  std::string html_;
  std::string html_head_;
  std::vector<std::string> json_;        // per backend, same order as Config::backends
  std::vector<std::string> json_heads_;
  std::vector<std::string> poll_paths_;
};

}  // namespace haven::fallback
