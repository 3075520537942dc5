#include "haven/routing/route_table.hpp"

#include <doctest/doctest.h>

using haven::routing::origin_path;
using haven::routing::path_prefix_matches;
using haven::routing::RouteTable;

TEST_CASE("path prefixes match whole segments only") {
  CHECK(path_prefix_matches("/api", "/api"));
  CHECK(path_prefix_matches("/api", "/api/x"));
  CHECK(path_prefix_matches("/api", "/api?x=1"));
  CHECK_FALSE(path_prefix_matches("/api", "/apis"));
  CHECK_FALSE(path_prefix_matches("/api", "/"));
  CHECK_FALSE(path_prefix_matches("/api", "/ap"));
  CHECK(path_prefix_matches("/", "/anything"));
  CHECK(path_prefix_matches("/static/", "/static/app.js"));
  CHECK_FALSE(path_prefix_matches("/static/", "/static"));
}

TEST_CASE("absolute-form targets are routed by their path") {
  CHECK(origin_path("/x?y") == "/x?y");
  CHECK(origin_path("http://host/api/x") == "/api/x");
  CHECK(origin_path("http://host") == "/");
  CHECK(origin_path("http://host?q") == "?q");
  CHECK(origin_path("*") == "*");
}

TEST_CASE("routes are tried in order and the default backend takes the rest") {
  haven::config::Frontend frontend;
  frontend.default_backend_index = 1;
  frontend.routes.push_back({"/api", "api", 0});
  frontend.routes.push_back({"/api/special", "special", 2});
  frontend.routes.push_back({"/files", "files", 3});
  const RouteTable table(frontend);
  CHECK(table.backend_for("/api") == 0);
  CHECK(table.backend_for("/api/x") == 0);
  CHECK(table.backend_for("/api?x") == 0);
  CHECK(table.backend_for("/api/special") == 0);  // first match wins
  CHECK(table.backend_for("/apis") == 1);
  CHECK(table.backend_for("/") == 1);
  CHECK(table.backend_for("/files/a") == 3);
  CHECK(table.backend_for("http://example.com/api/x") == 0);
}
