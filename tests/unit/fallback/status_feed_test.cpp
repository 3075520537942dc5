#include "haven/fallback/status_feed.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace haven::fallback;
using haven::state::BackendMode;
using haven::state::StatusRecord;

namespace {
StatusRecord record(BackendMode mode, std::int64_t since, bool changed = false,
                    BackendMode previous = BackendMode::Primary, std::string reason = "") {
  StatusRecord r;
  r.mode = mode;
  r.since_ms = since;
  r.changed = changed;
  r.previous = previous;
  r.reason = std::move(reason);
  return r;
}
}  // namespace

TEST_CASE("the feed renders every backend's mode, since, previous mode and reason") {
  const std::vector<FeedEntry> entries{
      {"static", record(BackendMode::Primary, 1764676980000)},
      {"api", record(BackendMode::Backup, 1764677000500, true, BackendMode::Primary, "main servers failing checks")}};
  const std::string json = render_status_json(entries, 5);
  CHECK(json ==
        R"({"serving":true,"backends":{"static":{"mode":"primary","since":"2025-12-02T12:03:00.000Z","previous":null,)"
        R"("reason":null,"retry_after":null},"api":{"mode":"backup","since":"2025-12-02T12:03:20.500Z",)"
        R"("previous":"primary","reason":"main servers failing checks","retry_after":null}}})");
  CHECK(json.size() < 1024);  // small: two backends well under 1 KiB
}

TEST_CASE("a backend in maintenance makes the feed not serving and carries retry_after") {
  const std::vector<FeedEntry> entries{
      {"static", record(BackendMode::Primary, 0)},
      {"api", record(BackendMode::Maintenance, 0, true, BackendMode::Backup, "main and backup servers unreachable")}};
  const std::string json = render_status_json(entries, 30);
  CHECK(json.starts_with(R"({"serving":false,)"));
  CHECK(json.find(R"("mode":"maintenance")") != std::string::npos);
  CHECK(json.find(R"("retry_after":30})") != std::string::npos);
  const std::vector<FeedEntry> quoted{{"we\"ird", record(BackendMode::Primary, 0)}};
  CHECK(render_status_json(quoted, 5).find(R"("we\"ird":)") != std::string::npos);
}

TEST_CASE("entity tags follow the body and If-None-Match compares them") {
  const StatusFeedAnswer a(R"({"serving":true,"backends":{}})");
  const StatusFeedAnswer b(R"({"serving":false,"backends":{}})");
  CHECK(a.etag() != b.etag());
  CHECK(a.hash() != b.hash());
  CHECK(a.etag().size() == 18);
  CHECK(a.etag() == entity_tag(body_hash(a.json())));
  const std::string tag(a.etag());
  CHECK(etag_matches(tag, tag));
  CHECK(etag_matches("W/" + tag, tag));
  CHECK(etag_matches("\"x\", " + tag, tag));
  CHECK(etag_matches(" " + tag + " ,\"y\"", tag));
  CHECK(etag_matches("*", tag));
  CHECK_FALSE(etag_matches(std::string(b.etag()), tag));
  CHECK_FALSE(etag_matches("", tag));
  CHECK_FALSE(etag_matches(tag.substr(1, 16), tag));  // unquoted is another tag
}

TEST_CASE("the answers: 200 with length, tag and no-store; HEAD; 304; the stream event") {
  const std::string json = R"({"serving":true,"backends":{}})";
  const StatusFeedAnswer answer(json);
  const std::string full(answer.response(false));
  const std::string head(answer.response(true));
  CHECK(full.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(full.find("Content-Type: application/json\r\n") != std::string::npos);
  CHECK(full.find("Content-Length: " + std::to_string(json.size()) + "\r\n") != std::string::npos);
  CHECK(full.find("ETag: " + std::string(answer.etag()) + "\r\n") != std::string::npos);
  CHECK(full.find("Cache-Control: no-store\r\n") != std::string::npos);
  CHECK(full.ends_with("\r\n\r\n" + json));
  CHECK(full == head + json);
  CHECK(answer.json() == json);
  CHECK(answer.not_modified() ==
        "HTTP/1.1 304 Not Modified\r\nETag: " + std::string(answer.etag()) + "\r\nCache-Control: no-store\r\n\r\n");
  CHECK(answer.event() == "event: status\nid: " + std::string(answer.etag()) + "\ndata: " + json + "\n\n");
  CHECK(event_stream_head().find("Content-Type: text/event-stream\r\n") != std::string_view::npos);
  CHECK(event_stream_head().ends_with("\r\n\r\nretry: 2000\n\n"));
}
