#include "haven/proxy/retry_policy.hpp"

#include <llhttp.h>

#include <initializer_list>

#include <doctest/doctest.h>

using namespace haven::proxy;

namespace {
RetryFacts facts(UpstreamFailure failure, std::uint8_t method, bool written) {
  RetryFacts f;
  f.failure = failure;
  f.method = method;
  f.request_written = written;
  return f;
}
}  // namespace

TEST_CASE("idempotent methods") {
  for (const auto method : {HTTP_GET, HTTP_HEAD, HTTP_PUT, HTTP_DELETE, HTTP_OPTIONS, HTTP_TRACE}) {
    CHECK(is_idempotent(static_cast<std::uint8_t>(method)));
  }
  for (const auto method : {HTTP_POST, HTTP_PATCH, HTTP_CONNECT}) CHECK_FALSE(is_idempotent(static_cast<std::uint8_t>(method)));
}

TEST_CASE("connect failures are retried for every method") {
  for (const auto method : {HTTP_GET, HTTP_POST, HTTP_PATCH}) {
    CHECK(decide_retry(facts(UpstreamFailure::ConnectFailed, method, false)) == RetryDecision::OtherServer);
    CHECK(decide_retry(facts(UpstreamFailure::ConnectTimeout, method, false)) == RetryDecision::OtherServer);
  }
}

TEST_CASE("a connection closed before any answer: idempotent or unwritten requests only") {
  CHECK(decide_retry(facts(UpstreamFailure::ClosedEarly, HTTP_GET, true)) == RetryDecision::OtherServer);
  CHECK(decide_retry(facts(UpstreamFailure::ClosedEarly, HTTP_PUT, true)) == RetryDecision::OtherServer);
  CHECK(decide_retry(facts(UpstreamFailure::ClosedEarly, HTTP_POST, true)) == RetryDecision::No);
  CHECK(decide_retry(facts(UpstreamFailure::ClosedEarly, HTTP_POST, false)) == RetryDecision::OtherServer);
  CHECK(decide_retry(facts(UpstreamFailure::WriteFailed, HTTP_POST, false)) == RetryDecision::OtherServer);
}

TEST_CASE("a stale pooled connection is retried once on a fresh one, for free") {
  auto f = facts(UpstreamFailure::ClosedEarly, HTTP_GET, true);
  f.pooled_connection = true;
  f.retries_allowed = 0;
  CHECK(decide_retry(f) == RetryDecision::FreshConnection);
  f.fresh_connection_tried = true;
  CHECK(decide_retry(f) == RetryDecision::No);
  auto post = facts(UpstreamFailure::ClosedEarly, HTTP_POST, true);
  post.pooled_connection = true;
  CHECK(decide_retry(post) == RetryDecision::No);
}

TEST_CASE("never after the server answered, nor beyond the retry budget") {
  auto answered = facts(UpstreamFailure::ClosedEarly, HTTP_GET, true);
  answered.response_byte_seen = true;
  CHECK(decide_retry(answered) == RetryDecision::No);
  auto spent = facts(UpstreamFailure::ConnectFailed, HTTP_GET, false);
  spent.retries_done = 2;
  CHECK(decide_retry(spent) == RetryDecision::No);
  auto not_whole = facts(UpstreamFailure::ConnectFailed, HTTP_GET, false);
  not_whole.replayable = false;
  CHECK(decide_retry(not_whole) == RetryDecision::No);
}

TEST_CASE("timeouts and bad responses are not retried; a server marked DOWN is") {
  CHECK(decide_retry(facts(UpstreamFailure::Timeout, HTTP_GET, true)) == RetryDecision::No);
  CHECK(decide_retry(facts(UpstreamFailure::BadResponse, HTTP_GET, true)) == RetryDecision::No);
  CHECK(decide_retry(facts(UpstreamFailure::ServerDown, HTTP_GET, true)) == RetryDecision::OtherServer);
  CHECK(decide_retry(facts(UpstreamFailure::ServerDown, HTTP_POST, true)) == RetryDecision::No);
  auto pooled = facts(UpstreamFailure::ServerDown, HTTP_GET, true);
  pooled.pooled_connection = true;
  CHECK(decide_retry(pooled) == RetryDecision::OtherServer);
}
