#pragma once
// The validated, immutable configuration. Only src/config includes toml++; everything else sees
// these plain structs. A Config is shared read-only between workers through shared_ptr.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "haven/core/duration.hpp"

namespace haven::config {

using core::Duration;

// A numeric IP address and port. `host` is the literal as written ("127.0.0.1", "::1");
// names such as "localhost" are resolved once at load time to their first address.
struct Address {
  std::string host;       // numeric IPv4 or IPv6 literal, without brackets
  std::uint16_t port = 0;
  bool is_ipv6 = false;
  std::string text;       // as written in the config, for messages ("[::1]:8080")

  bool operator==(const Address&) const = default;
  // The same socket address, however it was written ("localhost:80" and "127.0.0.1:80").
  [[nodiscard]] bool same_endpoint(const Address& other) const { return host == other.host && port == other.port; }
};

struct Timeouts {
  Duration connect{2000};
  Duration client{30000};
  Duration server{30000};
  Duration http_request{10000};
  Duration keep_alive{5000};
  Duration tunnel{3600000};
  Duration shutdown{10000};
  Duration tls_handshake{10000};  // from accept to a finished TLS handshake (frontends with tls)
};

// Where a setting was written, for problems found only when its files are read (certificates are
// parsed by the tls module, which reports them at this place).
struct SourcePosition {
  std::string file;
  int line = 0;
  int column = 0;
};

// One certificate a TLS frontend offers, chosen by SNI against its names.
struct TlsCertificate {
  std::string cert;  // PEM file: the certificate, then its chain (resolved path)
  std::string key;   // PEM file: its private key
  std::string ocsp;  // DER OCSP response to staple; "" = none
  SourcePosition at;
};

enum class TlsVersion { Tls12, Tls13 };

// Mozilla's "intermediate" recommendation: AEAD ciphers with forward secrecy only.
inline constexpr std::string_view kDefaultTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
inline constexpr std::string_view kDefaultTls13Ciphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

// A frontend's [frontends.NAME.tls] table. Without certificates the frontend speaks plain HTTP.
struct FrontendTls {
  std::vector<TlsCertificate> certificates;  // the first is the default for unknown or absent SNI
  bool strict_sni = false;                   // refuse handshakes whose SNI matches no certificate
  TlsVersion min_version = TlsVersion::Tls12;
  std::string ciphers{kDefaultTls12Ciphers};            // TLS 1.2 (OpenSSL cipher list)
  std::string ciphersuites{kDefaultTls13Ciphersuites};  // TLS 1.3
  std::vector<std::string> alpn{"http/1.1"};            // in the server's order of preference
  SourcePosition ciphers_at;                            // where ciphers / ciphersuites were set
  SourcePosition ciphersuites_at;

  [[nodiscard]] bool enabled() const { return !certificates.empty(); }
};

// A status range list such as "200-399" or "200,204" or "200-299,304".
struct StatusRange {
  int low = 200;
  int high = 399;

  bool operator==(const StatusRange&) const = default;
};

struct Check {
  std::string method = "GET";           // GET or HEAD
  std::string path = "/";
  std::string host;                      // "" = the server's address
  Duration interval{2000};
  Duration fast_interval{2000};          // defaults to interval
  Duration down_interval{2000};          // defaults to interval
  Duration timeout{1000};
  int rise = 2;
  int fall = 3;
  std::vector<StatusRange> expect_status{{200, 399}};

  bool operator==(const Check&) const = default;
  // Probes the same thing (method, path, host, accepted statuses): a server's health carries over
  // a reload that changes only how often or how patiently it is checked.
  [[nodiscard]] bool same_probe(const Check& other) const {
    return method == other.method && path == other.path && host == other.host && expect_status == other.expect_status;
  }

  [[nodiscard]] bool status_expected(int status) const {
    for (const auto& range : expect_status) {
      if (status >= range.low && status <= range.high) return true;
    }
    return false;
  }
};

// TLS towards a backend's servers: `tls = true` or `tls = { ... }` in a backend (all its servers)
// or `tls = true` in a server.
struct UpstreamTls {
  bool verify = true;           // the server's certificate must chain to a trusted CA and name the server
  std::string ca_file;          // PEM CAs to trust; "" = the system's store
  std::string cert;             // client certificate (mTLS), PEM with its chain; "" = none
  std::string key;              // its private key
  SourcePosition at;            // the backend's tls setting
};

struct Server {
  std::string name;
  Address address;
  bool backup = false;
  int weight = 1;                        // 0..256; 0 takes no new requests
  bool tls = false;                      // speak TLS to it (the backend's `tls` settings)
  // The name sent as SNI and checked against its certificate: the server's `sni`, else the
  // backend's, else the host of its address as written.
  std::string sni;
  // The set of servers a traffic shift moves requests between ("prod1", "prod2"); "" = none.
  std::string group;
};

enum class Balance { RoundRobin, LeastConn, First };
// As written in the config: "roundrobin", "leastconn", "first".
const char* balance_name(Balance balance);

inline constexpr std::size_t kMaxServersPerBackend = 64;
// The largest request or response head a limit may allow: a head is parsed in one read buffer,
// and the proxy's buffers are sized to hold this much (a larger limit would be silently capped).
inline constexpr std::size_t kMaxHeadBytes = 65536;

// [backends.NAME.stale_if_error]: haven keeps the last 200 answer to GET of each eligible URL and
// serves it, marked stale, while every server of the backend fails or the backend is down.
struct StaleIfError {
  bool enabled = false;                  // the table is present
  Duration max_age{3600000};             // a copy older than this is never served
  std::uint64_t max_entry = 1ULL << 20;  // larger answers are not kept
  std::uint64_t max_total = 64ULL << 20; // all copies of the backend, in the whole process
  std::vector<std::string> paths;        // path prefixes kept (none: every path)
  // While a URL's servers fail, at most one request per this interval goes to them (the rest get
  // the copy at once).
  Duration probe_interval{1000};
};

struct Backend {
  std::string name;
  Balance balance = Balance::RoundRobin;
  int retries = 2;
  bool all_backups = false;
  // A refused connection to a checked server: "mark-down" takes it DOWN at once (nothing listens
  // there), "count" counts it towards the check's `fall` like other connection failures.
  bool refused_marks_down = true;
  std::optional<Check> check;            // no `check` table: no active checks
  // A server that a reload adds, or whose address or check it changes, starts CHECKING (no traffic
  // before its first check passes) unless this is false ("up"). At start-up every server starts UP.
  bool init_checking = true;
  // A server that comes UP after being DOWN gets its share of new requests gradually: its weight
  // ramps from almost nothing to the full weight over this time (0 = at once).
  Duration slow_start{0};
  std::vector<Server> servers;           // declared order
  Timeouts timeouts;                     // [timeouts] merged with the backend's own overrides
  // Server response heads (many Set-Cookie lines are normal): limits apart from the clients'.
  std::size_t max_response_header_bytes = kMaxHeadBytes;
  std::size_t max_response_headers = 200;
  UpstreamTls tls;                       // used by the servers with tls = true
  StaleIfError stale_if_error;           // last-good copies served while the servers fail
  [[nodiscard]] bool any_tls() const {
    for (const auto& server : servers) {
      if (server.tls) return true;
    }
    return false;
  }
};

enum class HeaderUnderscores { Drop, Reject, Allow };

struct Route {
  std::string path_prefix;
  std::string backend;
  std::size_t backend_index = 0;         // index into Config::backends
};

struct Frontend {
  std::string name;
  Address bind;
  std::string default_backend;
  std::size_t default_backend_index = 0;
  std::vector<Route> routes;             // in declared order, first match wins
  std::vector<std::string> maintenance_requires;
  std::vector<std::size_t> maintenance_requires_indexes;
  Timeouts timeouts;                     // [timeouts] merged with the frontend's own overrides
  std::size_t max_header_bytes = 16384;  // request head limit (431 beyond)
  std::size_t max_headers = 100;         // header count limit (431 beyond)
  // Request header names with '_', which some servers read as '-': "drop" (default), "reject"
  // (400) or "allow".
  HeaderUnderscores underscores_in_headers = HeaderUnderscores::Drop;
  // Request bodies slower than this many bytes per second, averaged over 10 s, get 408 (0 = off):
  // a slow upload holds a connection slot and a server connection for as long as it lasts.
  std::uint64_t min_body_rate = 0;
  FrontendTls tls;
  // Plain-HTTP frontends: every request gets a 308 to the same URL over https (on https_port).
  bool redirect_https = false;
  std::uint16_t https_port = 443;
  // TLS frontends: the Strict-Transport-Security value added to responses ("" = none).
  std::string hsts;
  // The public status feed of the backends this frontend routes to ("" = none): JSON, or an
  // event stream for `Accept: text/event-stream`. Answered by haven, never routed.
  std::string status_path = "/.haven/status";
  // The backends the feed reports: the default backend, the routes' and maintenance_requires',
  // each once, in that order of first mention (filled in by the loader).
  std::vector<std::size_t> status_backend_indexes;
};

struct Global {
  int workers = 1;                       // 0 = one per CPU core (resolved by app, not here)
  int max_connections = 20000;
  // Connections one client address may hold, all frontends together (0 = no limit): high enough
  // for a wall of screens behind one NAT, low enough that one host cannot take every slot.
  int max_connections_per_client = 1000;
  // Event-stream subscribers of the status feed each worker holds at most (0 = none allowed):
  // every open maintenance page is one, and each costs a connection slot and a little memory.
  int max_status_subscribers = 10000;
  // How often an idle status event stream gets a comment line, so that intermediaries with idle
  // timeouts keep it open; a subscriber that has not read one by the next is closed.
  Duration status_heartbeat{15000};
};

enum class LogFormat { Text, Json };

struct Log {
  std::string access = "stdout";         // "stdout", "stderr", a file path, or "off"
  std::string events = "stderr";
  LogFormat format = LogFormat::Text;
};

struct Maintenance {
  std::string page;                      // "" = the bundled page
  Duration retry_after{5000};
  std::vector<std::string> poll{"/api/healthz", "/healthz"};
  Duration poll_interval{5000};
  // An open maintenance page that learns of the recovery reloads after a random delay up to this.
  Duration recovery_spread{2000};
};

// The admin listener (stats page, stats.json, /metrics, runtime API). Off without an [admin] table.
struct Admin {
  bool enabled = false;
  Address bind;                          // default 127.0.0.1:9000; port 0 lets the system choose
  std::string unix_path;                 // instead of `bind`: a unix socket ("unix:/run/haven/admin.sock")
  std::string token;                     // bearer token; "" = none (allowed on loopback only)
  bool read_token_required = false;      // reads need the token too
  std::string state_file;                // admin state and weights kept across restarts; "" = none
  // What GET /health and `haven ctl health` call healthy (a floating address's tracking script):
  // "running" (haven runs and its listeners accept) or "serving" (also: every frontend has a
  // backend with a server that may take requests).
  bool healthy_needs_serving = true;
  // A file haven keeps at "0" while healthy by that rule and "1" while not (and once it stops for
  // good), rewritten within 100 ms of a change: keepalived's track_file moves the floating address
  // at once instead of at its next check. "" = none.
  std::string health_file;

  [[nodiscard]] bool loopback_only() const;
};

struct Config {
  std::string source;                    // the file it was read from
  Global global;
  Admin admin;
  Log log;
  Timeouts timeouts;
  Maintenance maintenance;
  std::vector<Frontend> frontends;       // sorted by name
  std::vector<Backend> backends;         // sorted by name

  [[nodiscard]] const Backend* find_backend(std::string_view name) const {
    for (const auto& backend : backends) {
      if (backend.name == name) return &backend;
    }
    return nullptr;
  }
};

// Where and why a configuration was refused. to_string() gives "FILE:LINE:COL: message".
struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;

  // A problem found when a setting's files are read (by the tls module), at the setting's place.
  static ConfigError at(const SourcePosition& where, std::string why) {
    return ConfigError{where.file, where.line, where.column, std::move(why)};
  }
  [[nodiscard]] std::string to_string() const;
};

}  // namespace haven::config
