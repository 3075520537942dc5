#include "haven/tls/client_context.hpp"

#include <arpa/inet.h>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "openssl_error.hpp"

namespace haven::tls {

namespace {

// The SSL ex_data slot holding the server name a session was made for.
int name_slot() {
  static const int slot = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

bool is_ip_literal(const std::string& name) {
  unsigned char address[16];
  return inet_pton(AF_INET, name.c_str(), address) == 1 || inet_pton(AF_INET6, name.c_str(), address) == 1;
}

}  // namespace

struct ClientContext::Callbacks {
  // A server gave a session (TLS 1.3: in a ticket after the handshake): kept for the next
  // connection to the same server.
  static int on_new_session(SSL* ssl, SSL_SESSION* session) noexcept {
    auto* self = static_cast<ClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    const auto* name = static_cast<const std::string*>(SSL_get_ex_data(ssl, name_slot()));
    if (self == nullptr || name == nullptr) return 0;
    // A copy: OpenSSL marks the connection's own session unusable if that connection ends
    // without a close_notify, which servers' connections often do.
    SSL_SESSION* copy = SSL_SESSION_dup(session);
    if (copy == nullptr) return 0;
    self->remember(*name, copy);
    return 0;  // OpenSSL keeps (and frees) the original
  }
};

ClientContext::~ClientContext() {
  for (auto& [name, session] : sessions_) SSL_SESSION_free(session);
  SSL_CTX_free(ctx_);
}

core::Result<std::shared_ptr<ClientContext>, config::ConfigError> ClientContext::build(const config::UpstreamTls& tls,
                                                                                        std::int64_t /*now_ms*/) {
  std::shared_ptr<ClientContext> self(new ClientContext());
  ERR_clear_error();
  self->ctx_ = SSL_CTX_new(TLS_client_method());
  if (self->ctx_ == nullptr) return config::ConfigError::at(tls.at, "cannot create a TLS context: " + openssl_error());
  SSL_CTX* ctx = self->ctx_;
  SSL_CTX_set_app_data(ctx, self.get());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  self->verify_ = tls.verify;
  if (tls.verify) {
    const bool loaded = tls.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx) == 1
                                            : SSL_CTX_load_verify_locations(ctx, tls.ca_file.c_str(), nullptr) == 1;
    if (!loaded) {
      return config::ConfigError::at(tls.at, tls.ca_file.empty()
                                  ? "cannot load the system's CA certificates: " + openssl_error()
                                  : fmt::format("ca_file \"{}\" holds no PEM CA certificate ({})", tls.ca_file,
                                                openssl_error()));
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!tls.cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert.c_str()) != 1) {
      return config::ConfigError::at(tls.at, fmt::format("cert \"{}\" holds no PEM certificate ({})", tls.cert, openssl_error()));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, tls.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      return config::ConfigError::at(tls.at, fmt::format("key \"{}\" holds no PEM private key ({})", tls.key, openssl_error()));
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      ERR_clear_error();
      return config::ConfigError::at(tls.at, fmt::format("key \"{}\" does not belong to certificate \"{}\"", tls.key, tls.cert));
    }
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, &Callbacks::on_new_session);
  return self;
}

void ClientContext::prepare(SSL* ssl, const std::string& server_name) {
  SSL_set_ex_data(ssl, name_slot(), const_cast<std::string*>(&server_name));
  const bool address = is_ip_literal(server_name);
  // SNI carries host names only (RFC 6066).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"  // OpenSSL's macro casts C-style
  if (!address) SSL_set_tlsext_host_name(ssl, server_name.c_str());
#pragma GCC diagnostic pop
  if (verify_) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (address) {
      X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), server_name.size());
    }
  }
  const std::lock_guard lock(sessions_mutex_);
  for (const auto& [name, session] : sessions_) {
    if (name == server_name) {
      SSL_set_session(ssl, session);
      return;
    }
  }
}

void ClientContext::remember(const std::string& server_name, SSL_SESSION* session) {
  const std::lock_guard lock(sessions_mutex_);
  for (auto& [name, kept] : sessions_) {
    if (name == server_name) {
      SSL_SESSION_free(kept);
      kept = session;
      return;
    }
  }
  sessions_.emplace_back(server_name, session);
}

}  // namespace haven::tls
