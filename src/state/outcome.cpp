#include "haven/state/outcome.hpp"

namespace haven::state {

namespace {
constexpr std::array<std::string_view, kOutcomeCount> kNames{
    "ok",           "maintenance",   "bad_request",    "head_too_large", "bad_request_body", "head_timeout",
    "body_too_slow", "client_timeout", "client_abort",  "connect_failed", "server_timeout",   "server_abort",
    "server_closed", "bad_response",  "tunnel_closed",  "tunnel_timeout", "local_resources",  "shutdown",
    "server_tls",   "stale",
};

constexpr std::array<Outcome, kOutcomeCount> make_all() {
  std::array<Outcome, kOutcomeCount> all{};
  for (std::size_t i = 0; i < kOutcomeCount; ++i) all[i] = static_cast<Outcome>(i);
  return all;
}
constexpr auto kAll = make_all();
}  // namespace

std::string_view outcome_name(Outcome outcome) { return kNames[static_cast<std::size_t>(outcome)]; }

const std::array<Outcome, kOutcomeCount>& all_outcomes() { return kAll; }

bool outcome_blames_server(Outcome outcome) {
  switch (outcome) {
    case Outcome::ConnectFailed:
    case Outcome::ServerTimeout:
    case Outcome::ServerAbort:
    case Outcome::ServerClosed:
    case Outcome::BadResponse:
    case Outcome::ServerTls:
    case Outcome::Stale:
      return true;
    default:
      return false;
  }
}

}  // namespace haven::state
