#pragma once
// When a failed exchange may go to a server again. Pure: the session gathers the facts, this
// decides, and the unit tests cover every method and failure kind.
#include <cstdint>

#include "haven/http/method.hpp"

namespace haven::proxy {

enum class UpstreamFailure : std::uint8_t {
  ConnectFailed,   // refused, unreachable
  ConnectTimeout,
  ClosedEarly,     // closed or reset before any response byte
  Timeout,         // no response in time
  BadResponse,
  WriteFailed,
  ServerDown,      // the server was marked DOWN while the request waited
  TlsFailed,       // the TLS handshake failed (certificate not trusted, no common protocol)
};

struct RetryFacts {
  UpstreamFailure failure = UpstreamFailure::ConnectFailed;
  http::Method method{};
  bool request_written = false;     // some byte of the request reached this connection
  bool response_byte_seen = false;  // the server answered something
  bool replayable = true;           // the whole request is still in the buffer
  bool upgrade = false;             // switching protocols
  bool pooled_connection = false;   // the connection had served a request before
  bool fresh_connection_tried = false;
  int retries_done = 0;
  int retries_allowed = 2;
};

enum class RetryDecision : std::uint8_t {
  No,
  FreshConnection,  // same server, new connection, no retry spent: the server closed an idle one
  OtherServer,      // spend a retry on another usable server
};

bool is_idempotent(http::Method method);
RetryDecision decide_retry(const RetryFacts& facts);

}  // namespace haven::proxy
