#pragma once
// How an exchange ended. Every exchange ends in exactly one outcome: it is the access log's
// `term=` field, the key of the outcome counters and what tells a passive check whether the
// server was at fault (like HAProxy's termination codes, spelled out).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace haven::state {

enum class Outcome : std::uint8_t {
  Ok,              // the response went out whole
  Maintenance,     // no server could take it: the maintenance page or JSON 503
  BadRequest,      // the request head was malformed (400, 501)
  HeadTooLarge,    // 431
  BadRequestBody,  // the body broke its framing (400)
  HeadTimeout,     // the head did not arrive within http_request (408)
  BodyTooSlow,     // the body came slower than min_body_rate (408)
  ClientTimeout,   // the client stopped reading or sending mid-exchange
  ClientAbort,     // the client closed or reset before the response was out
  ConnectFailed,   // no server connection could be made (after retries)
  ServerTimeout,   // the server did not answer in time (504)
  ServerAbort,     // the server closed or reset mid-response
  ServerClosed,    // the server closed before any response byte (502)
  BadResponse,     // the server's response was malformed (502)
  TunnelClosed,    // a WebSocket tunnel ended by either side
  TunnelTimeout,   // a tunnel idle for longer than timeouts.tunnel
  LocalResources,  // haven ran out of a local resource (ports, descriptors)
  Shutdown,        // cut short by the end of the shutdown grace time
  ServerTls,       // TLS to the server failed (its certificate not trusted, or the handshake) (502)
  Stale,           // the servers failed or were down: a last-good copy was served (stale_if_error)
};

inline constexpr std::size_t kOutcomeCount = static_cast<std::size_t>(Outcome::Stale) + 1;

// The access-log and metrics spelling ("client_abort").
std::string_view outcome_name(Outcome outcome);
// Every outcome, in enum order (for rendering every counter, zeros included).
const std::array<Outcome, kOutcomeCount>& all_outcomes();
// Whether the outcome is the server's fault (and so a passive-check failure of that server).
bool outcome_blames_server(Outcome outcome);

}  // namespace haven::state
