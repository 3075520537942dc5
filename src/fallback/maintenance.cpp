#include "haven/fallback/maintenance.hpp"

#include "haven/http/header_kind.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

namespace haven::fallback {

namespace {

constexpr std::string_view kConfigStart = "/*haven:config*/";
constexpr std::string_view kConfigEnd = "/*haven:end*/";

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '<') {
      out.append("\\u003c");  // the JSON sits inside a <script>: never let it close the element
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out.append(fmt::format("\\u{:04x}", static_cast<unsigned>(c)));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

long retry_after_seconds(const config::Maintenance& maintenance) {
  return static_cast<long>((maintenance.retry_after.count() + 999) / 1000);
}

std::string response_head(std::string_view content_type, std::size_t length, long retry_after) {
  return fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: {}\r\nContent-Length: {}\r\nRetry-After: {}\r\n"
      "Cache-Control: no-store\r\n\r\n",
      content_type, length, retry_after);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

PageFeed page_feed(const config::Frontend& frontend) {
  PageFeed feed;
  feed.status_path = frontend.status_path;
  for (const auto& route : frontend.routes) feed.routes.emplace_back(route.path_prefix, route.backend);
  feed.default_backend = frontend.default_backend;
  for (const auto& name : frontend.maintenance_requires) feed.required.emplace_back(name);
  return feed;
}

std::string fill_page_config(std::string_view page, const config::Maintenance& maintenance, const PageFeed* feed) {
  const auto start = page.find(kConfigStart);
  if (start == std::string_view::npos) return std::string(page);
  const auto end = page.find(kConfigEnd, start + kConfigStart.size());
  if (end == std::string_view::npos) return std::string(page);
  // A JSON array of what `item` writes for each element.
  const auto json_array = [](const auto& list, const auto& item) {
    std::string out = "[";
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (i > 0) out.push_back(',');
      out.append(item(list[i]));
    }
    out.push_back(']');
    return out;
  };
  const auto as_string = [](std::string_view text) { return json_string(text); };
  const std::string poll = json_array(maintenance.poll, as_string);
  const auto interval = maintenance.poll_interval.count();
  // A poll must give up before the next one is due.
  const auto timeout = std::max<long>(500, static_cast<long>(interval) * 4 / 5);
  std::string out(page.substr(0, start + kConfigStart.size()));
  out.append(fmt::format(R"({{"poll":{},"interval_ms":{},"timeout_ms":{})", poll, interval, timeout));
  if (feed != nullptr && !feed->status_path.empty()) {
    const std::string routes = json_array(feed->routes, [](const auto& route) {
      return fmt::format("[{},{}]", json_string(route.first), json_string(route.second));
    });
    const std::string required = json_array(feed->required, as_string);
    out.append(fmt::format(R"(,"status":{},"spread_ms":{},"routes":{},"default_backend":{},"required":{})",
                           json_string(feed->status_path), maintenance.recovery_spread.count(), routes,
                           json_string(feed->default_backend), required));
  } else {
    out.append(R"(,"status":null)");
  }
  out.push_back('}');
  out.append(page.substr(end));
  return out;
}

bool accepts_html(std::string_view accept) {
  // Runs for every request that has an Accept header: no copies, no allocation.
  while (!accept.empty()) {
    const auto comma = accept.find(',');
    const std::string_view item = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    const auto semicolon = item.find(';');
    const std::string_view media = trim(item.substr(0, semicolon));
    if (!http::iequals(media, "text/html") && !http::iequals(media, "text/*")) continue;
    if (semicolon == std::string_view::npos) return true;
    // "q=0" (or 0.0, 0.00...) means "not this".
    std::string_view params = item.substr(semicolon + 1);
    const auto q = params.find_first_of("qQ");
    if (q == std::string_view::npos || q + 1 >= params.size() || params[q + 1] != '=') return true;
    bool nonzero = false;
    for (const char c : params.substr(q + 2)) {
      if (c == ';' || c == ' ') break;
      if (c >= '1' && c <= '9') nonzero = true;
    }
    if (nonzero) return true;
  }
  return false;
}

core::Result<MaintenanceResponses, std::string> MaintenanceResponses::build(const config::Config& config) {
  std::string page;
  if (config.maintenance.page.empty()) {
    page.assign(bundled_maintenance_page());
  } else {
    std::ifstream file(config.maintenance.page, std::ios::binary);
    if (!file) return std::string("cannot read the maintenance page ") + config.maintenance.page;
    std::ostringstream contents;
    contents << file.rdbuf();
    page = contents.str();
  }
  MaintenanceResponses responses;
  const long retry_after = retry_after_seconds(config.maintenance);
  const auto add_page = [&](const PageFeed* feed) {
    const std::string filled = fill_page_config(page, config.maintenance, feed);
    responses.html_heads_.push_back(response_head("text/html; charset=utf-8", filled.size(), retry_after));
    responses.html_.push_back(responses.html_heads_.back() + filled);
  };
  for (const auto& frontend : config.frontends) {
    const PageFeed feed = page_feed(frontend);
    add_page(&feed);
  }
  if (config.frontends.empty()) add_page(nullptr);
  for (const auto& backend : config.backends) {
    const std::string body = fmt::format(R"({{"status":"maintenance","backend":{},"retry_after":{}}})",
                                         json_string(backend.name), retry_after) + "\n";
    responses.json_heads_.push_back(response_head("application/json", body.size(), retry_after));
    responses.json_.push_back(responses.json_heads_.back() + body);
  }
  responses.poll_paths_ = config.maintenance.poll;
  return responses;
}

bool MaintenanceResponses::is_poll_path(std::string_view target) const {
  const std::string_view path = target.substr(0, target.find('?'));
  for (const auto& poll : poll_paths_) {
    if (std::string_view(poll).substr(0, poll.find('?')) == path) return true;
  }
  return false;
}

}  // namespace haven::fallback
