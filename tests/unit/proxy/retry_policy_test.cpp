#include "haven/proxy/retry_policy.hpp"

#include "haven/http/method.hpp"

#include <initializer_list>

#include <doctest/doctest.h>

using namespace haven::proxy;
using haven::http::Method;

namespace {
RetryFacts facts(UpstreamFailure failure, Method method, bool written) {
  RetryFacts f;
  f.failure = failure;
  f.method = method;
  f.request_written = written;
  return f;
}
}  // namespace

TEST_CASE("idempotent methods") {
  for (const auto method : {Method::Get, Method::Head, Method::Put, Method::Delete, Method::Options, Method::Trace}) {
    CHECK(is_idempotent(method));
  }
  for (const auto method : {Method::Post, Method::Patch, Method::Connect}) CHECK_FALSE(is_idempotent(method));
}

TEST_CASE("connect failures are retried for every method") {
  for (const auto method : {Method::Get, Method::Post, Method::Patch}) {
    CHECK(decide_retry(facts(UpstreamFailure::ConnectFailed, method, false)) == RetryDecision::OtherServer);
    CHECK(decide_retry(facts(UpstreamFailure::ConnectTimeout, method, false)) == RetryDecision::OtherServer);
  }
}

TEST_CASE("a connection closed before any answer: idempotent or unwritten requests only") {
  CHECK(decide_retry(facts(UpstreamFailure::ClosedEarly, Method::Get, true)) == RetryDecision::OtherServer);
  CHECK(decide_retry(facts(UpstreamFailure::ClosedEarly, Method::Put, true)) == RetryDecision::OtherServer);
  CHECK(decide_retry(facts(UpstreamFailure::ClosedEarly, Method::Post, true)) == RetryDecision::No);
  CHECK(decide_retry(facts(UpstreamFailure::ClosedEarly, Method::Post, false)) == RetryDecision::OtherServer);
  CHECK(decide_retry(facts(UpstreamFailure::WriteFailed, Method::Post, false)) == RetryDecision::OtherServer);
}

TEST_CASE("a stale pooled connection is retried once on a fresh one, for free") {
  auto f = facts(UpstreamFailure::ClosedEarly, Method::Get, true);
  f.pooled_connection = true;
  f.retries_allowed = 0;
  CHECK(decide_retry(f) == RetryDecision::FreshConnection);
  f.fresh_connection_tried = true;
  CHECK(decide_retry(f) == RetryDecision::No);
  auto post = facts(UpstreamFailure::ClosedEarly, Method::Post, true);
  post.pooled_connection = true;
  CHECK(decide_retry(post) == RetryDecision::No);
}

TEST_CASE("never after the server answered, nor beyond the retry budget") {
  auto answered = facts(UpstreamFailure::ClosedEarly, Method::Get, true);
  answered.response_byte_seen = true;
  CHECK(decide_retry(answered) == RetryDecision::No);
  auto spent = facts(UpstreamFailure::ConnectFailed, Method::Get, false);
  spent.retries_done = 2;
  CHECK(decide_retry(spent) == RetryDecision::No);
  auto not_whole = facts(UpstreamFailure::ConnectFailed, Method::Get, false);
  not_whole.replayable = false;
  CHECK(decide_retry(not_whole) == RetryDecision::No);
}

TEST_CASE("timeouts and bad responses are not retried; a server marked DOWN is") {
  CHECK(decide_retry(facts(UpstreamFailure::Timeout, Method::Get, true)) == RetryDecision::No);
  CHECK(decide_retry(facts(UpstreamFailure::BadResponse, Method::Get, true)) == RetryDecision::No);
  CHECK(decide_retry(facts(UpstreamFailure::ServerDown, Method::Get, true)) == RetryDecision::OtherServer);
  CHECK(decide_retry(facts(UpstreamFailure::ServerDown, Method::Post, true)) == RetryDecision::No);
  auto pooled = facts(UpstreamFailure::ServerDown, Method::Get, true);
  pooled.pooled_connection = true;
  CHECK(decide_retry(pooled) == RetryDecision::OtherServer);
}
