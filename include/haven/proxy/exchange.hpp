#pragma once
// The state of one request and its response: lives from the first byte of a request to the end
// of its response. Pooled per worker (Worker::acquire_exchange).
#include <cstdint>
#include <string>

#include "haven/http/head_writer.hpp"
#include "haven/http/message_parser.hpp"
#include "haven/net/buffer_pool.hpp"
#include "haven/net/out_queue.hpp"
#include "haven/upstream/balancer.hpp"
#include "haven/upstream/connection.hpp"
#include "haven/state/outcome.hpp"
#include "haven/upstream/server.hpp"

namespace haven::proxy {

// A head is parsed in one read buffer: the largest head a limit may allow must fit.
static_assert(net::Buffer::kCapacity > config::kMaxHeadBytes, "a read buffer must hold the largest head a limit allows");

// Everything about an exchange that simply starts over with the next request.
struct ExchangeProgress {
  upstream::Backend* backend = nullptr;
  upstream::Server* server = nullptr;
  upstream::Connection* upstream = nullptr;
  net::Buffer* upstream_in = nullptr;
  std::size_t upstream_parsed = 0;
  http::ResponsePlan plan;
  upstream::TriedSet tried;
  state::Outcome outcome = state::Outcome::Ok;
  int retries = 0;
  int status = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t started_ms = 0;
  std::uint64_t head_ms = 0;
  std::uint64_t connected_ms = 0;
  std::uint64_t first_response_ms = 0;
  bool connecting = false;
  bool request_complete = false;
  bool request_written = false;     // some request byte reached the current connection
  bool response_byte_seen = false;  // some byte arrived from the current connection
  bool response_started = false;    // some response byte was sent to the client
  bool response_complete = false;
  bool response_before_request_end = false;  // the server answered before it had the whole request
  bool upstream_reusable = false;
  bool replayable = true;           // the client buffer still holds the whole request so far
  bool upgrade_response = false;
  bool fresh_connection_only = false;
  bool counted_active = false;
  bool wants_html = false;          // Accept lists text/html: errors come as pages
  bool upstream_eof = false;
  bool routed = false;              // backend chosen (a replay keeps it)
  bool tunnel_write_pending = false;  // a queued upstream write carries tunnel bytes from in_
  bool recorded = false;  // counted and logged (record_exchange)
  bool short_leash = false;  // waiting on a server whose last check failed: re-sent after the check timeout
};

struct Exchange : ExchangeProgress {
  explicit Exchange(http::MessageSink& response_sink) : response_parser(http::MessageKind::Response, response_sink) {}

  // Ready for a request of the session whose parser events go to `response_sink`. Strings and
  // vectors keep their capacity: that is why exchanges are pooled.
  void reset(http::MessageSink& response_sink) {
    static_cast<ExchangeProgress&>(*this) = ExchangeProgress{};
    request.clear();
    response.clear();
    response_parser.set_sink(response_sink);
    response_parser.reset();
    to_upstream.clear();
    to_client.clear();
    target_copy.clear();
  }

  http::MessageHead request;
  http::MessageHead response;
  http::MessageParser response_parser;
  net::OutQueue to_upstream;
  net::OutQueue to_client;
  std::string target_copy;  // the target, once the client buffer no longer holds the head
};

}  // namespace haven::proxy
