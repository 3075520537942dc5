#include "haven/fallback/maintenance.hpp"

#include <doctest/doctest.h>

using namespace haven::fallback;

TEST_CASE("Accept negotiation: browsers get the page, everything else JSON") {
  CHECK(accepts_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
  CHECK(accepts_html("TEXT/HTML"));
  CHECK(accepts_html("application/json, text/html;q=0.5"));
  CHECK(accepts_html("text/*"));
  CHECK_FALSE(accepts_html("application/json"));
  CHECK_FALSE(accepts_html("*/*"));
  CHECK_FALSE(accepts_html(""));
  CHECK_FALSE(accepts_html("text/html;q=0"));
  CHECK_FALSE(accepts_html("text/html; q=0.0"));
  CHECK_FALSE(accepts_html("text/htmlx"));
}

TEST_CASE("the page's configuration block is filled from the config") {
  haven::config::Maintenance maintenance;
  maintenance.poll = {"/api/healthz", "/x\"</script>"};
  maintenance.poll_interval = haven::core::Duration(2000);
  const std::string page = "a /*haven:config*/{\"poll\":[]}/*haven:end*/ b";
  const std::string filled = fill_page_config(page, maintenance);
  CHECK(filled ==
        "a /*haven:config*/{\"poll\":[\"/api/healthz\",\"/x\\\"\\u003c/script>\"],\"interval_ms\":2000,"
        "\"timeout_ms\":1600,\"status\":null}/*haven:end*/ b");
  CHECK(fill_page_config("no markers", maintenance) == "no markers");
  // With a status feed: where it is, how far recoveries spread, and what the visitor's page needs.
  maintenance.recovery_spread = haven::core::Duration(1500);
  PageFeed feed;
  feed.status_path = "/.haven/status";
  feed.routes = {{"/api", "api"}};
  feed.default_backend = "static";
  feed.required = {"api"};
  CHECK(fill_page_config("/*haven:config*/{}/*haven:end*/", maintenance, &feed) ==
        "/*haven:config*/{\"poll\":[\"/api/healthz\",\"/x\\\"\\u003c/script>\"],\"interval_ms\":2000,"
        "\"timeout_ms\":1600,\"status\":\"/.haven/status\",\"spread_ms\":1500,\"routes\":[[\"/api\",\"api\"]],"
        "\"default_backend\":\"static\",\"required\":[\"api\"]}/*haven:end*/");
}

TEST_CASE("maintenance responses are 503 with Retry-After and no-store") {
  haven::config::Config config;
  config.maintenance.retry_after = haven::core::Duration(5000);
  haven::config::Backend api;
  api.name = "api";
  config.backends.push_back(api);
  auto built = MaintenanceResponses::build(config);
  REQUIRE(built.ok());
  const auto& responses = built.value();
  const std::string_view json = responses.json(0, false);
  CHECK(json.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
  CHECK(json.find("Retry-After: 5\r\n") != std::string_view::npos);
  CHECK(json.find("Cache-Control: no-store\r\n") != std::string_view::npos);
  CHECK(json.find("Content-Type: application/json\r\n") != std::string_view::npos);
  CHECK(json.find("\r\n\r\n{\"status\":\"maintenance\",\"backend\":\"api\",\"retry_after\":5}\n") != std::string_view::npos);
  CHECK(responses.json(0, true).find("{") == std::string_view::npos);
  const std::string_view html = responses.html(0, false);
  CHECK(html.find("Content-Type: text/html; charset=utf-8\r\n") != std::string_view::npos);
  CHECK(html.find("/*haven:config*/{\"poll\":[\"/api/healthz\",\"/healthz\"],\"interval_ms\":5000") !=
        std::string_view::npos);
  CHECK(responses.html(0, true).size() < html.size());
  CHECK(responses.is_poll_path("/api/healthz"));
  CHECK(responses.is_poll_path("/healthz?x=1"));
  CHECK_FALSE(responses.is_poll_path("/api/healthzz"));
}

TEST_CASE("the bundled page is self-contained and carries the configuration block") {
  const auto page = bundled_maintenance_page();
  CHECK(page.size() < 28 * 1024);  // one self-contained page, served only while something is down
  CHECK(page.find("/*haven:config*/") != std::string_view::npos);
  CHECK(page.find("http://") == std::string_view::npos);
  CHECK(page.find("https://") == std::string_view::npos);
}
