#include "haven/proxy/retry_policy.hpp"

#include "haven/http/method.hpp"

namespace haven::proxy {

bool is_idempotent(http::Method method) {
  switch (method) {
    case http::Method::Get:
    case http::Method::Head:
    case http::Method::Put:
    case http::Method::Delete:
    case http::Method::Options:
    case http::Method::Trace:
      return true;
    default:
      return false;
  }
}

RetryDecision decide_retry(const RetryFacts& facts) {
  // Once the server said anything, or the request is no longer whole, there is nothing to replay.
  if (!facts.replayable || facts.response_byte_seen || facts.upgrade) return RetryDecision::No;
  // Nothing of the request was sent before a connection (or its TLS handshake) was made.
  const bool connect_failure = facts.failure == UpstreamFailure::ConnectFailed ||
                               facts.failure == UpstreamFailure::ConnectTimeout ||
                               facts.failure == UpstreamFailure::TlsFailed;
  const bool unanswered = facts.failure == UpstreamFailure::ClosedEarly ||
                          facts.failure == UpstreamFailure::WriteFailed || facts.failure == UpstreamFailure::ServerDown;
  if (!connect_failure && !unanswered) return RetryDecision::No;
  // A request that reached a server may have been acted on: only idempotent ones are replayed.
  if (unanswered && facts.request_written && !is_idempotent(facts.method)) return RetryDecision::No;
  // A reused connection closed under us is the server ending an idle connection, not a failure.
  if (facts.failure != UpstreamFailure::ServerDown && unanswered && facts.pooled_connection &&
      !facts.fresh_connection_tried) {
    return RetryDecision::FreshConnection;
  }
  if (facts.retries_done >= facts.retries_allowed) return RetryDecision::No;
  return RetryDecision::OtherServer;
}

}  // namespace haven::proxy
