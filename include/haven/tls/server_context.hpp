#pragma once
// The TLS side of one frontend, built from its [frontends.NAME.tls] table: its certificates (the
// one offered is chosen by SNI against each certificate's names), protocol versions, ciphers,
// ALPN, OCSP staples and session resumption (a shared cache and tickets from TicketKeys). Built
// at start-up and on every reload (which re-reads the files), immutable after, and shared by
// every worker: a handshake only reads it. Existing connections keep the context they started
// with; a reload's new certificates serve new handshakes.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "haven/config/config.hpp"
#include "haven/core/result.hpp"
#include "haven/tls/ticket_keys.hpp"

struct ssl_ctx_st;
struct ssl_st;

namespace haven::tls {

// What the stats show of a certificate.
struct CertificateInfo {
  std::string file;                 // the cert file, as resolved
  std::string subject;              // its subject, one line
  std::vector<std::string> names;   // DNS names it is chosen for (SAN, else the CN)
  std::int64_t not_after_ms = 0;    // expiry, wall clock (ms since the epoch)
};

class ServerContext {
 public:
  // Reads and checks every certificate: readable PEM, the key matching it, not expired at
  // `now_ms`; and the frontend's settings (ciphers OpenSSL knows). A problem is a ConfigError at
  // the setting's place in the file.
  static core::Result<std::shared_ptr<const ServerContext>, config::ConfigError> build(
      const config::FrontendTls& tls, std::shared_ptr<TicketKeys> keys, std::int64_t now_ms);

  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  [[nodiscard]] ssl_ctx_st* native() const { return ctx_; }
  [[nodiscard]] const std::vector<CertificateInfo>& certificates() const { return infos_; }

  // Which certificate serves `server_name` (SNI; empty when the client sent none): its index,
  // or -1 when none matches (the first one serves then, unless strict_sni).
  [[nodiscard]] int certificate_for(std::string_view server_name) const;
  // Drops sessions past their lifetime from the cache (`now_ms`: wall clock).
  void flush_expired_sessions(std::int64_t now_ms) const;

 private:
  struct Certificate;
  struct Callbacks;
  ServerContext();

  ssl_ctx_st* ctx_ = nullptr;
  std::vector<std::unique_ptr<Certificate>> certificates_;
  std::vector<CertificateInfo> infos_;
  std::vector<unsigned char> alpn_wire_;  // the protocols, in ALPN wire format
  std::shared_ptr<TicketKeys> keys_;
  bool strict_sni_ = false;
};

// A DNS name from a certificate ("example.com", "*.example.com") against a host name, without
// case: a wildcard stands for exactly one leftmost label.
bool name_matches(std::string_view pattern, std::string_view host);

}  // namespace haven::tls
