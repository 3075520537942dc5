#include "haven/tls/server_context.hpp"

#include <array>
#include <cstring>
#include <ctime>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "openssl_error.hpp"

namespace haven::tls {

struct ServerContext::Certificate {
  ~Certificate() {
    X509_free(cert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
  }
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509)* chain = nullptr;
  std::vector<std::string> names;
  std::string ocsp;  // DER response to staple, "" = none
  // The session id context of handshakes with this certificate (its SHA-256): a session made
  // under one certificate never resumes under another (another frontend, another SNI name).
  std::array<unsigned char, 32> session_context{};
};

namespace {

// Index of the SSL ex_data slot holding the chosen certificate (+1; 0 = the default).
int certificate_slot() {
  static const int slot = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

std::string x509_name_line(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(length > 0 ? length : 0));
  BIO_free(bio);
  return out;
}

std::vector<std::string> dns_names(X509* cert) {
  std::vector<std::string> names;
  auto* alt = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (alt != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(alt); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(alt, i);
      if (name->type != GEN_DNS) continue;
      const unsigned char* data = ASN1_STRING_get0_data(name->d.dNSName);
      names.emplace_back(reinterpret_cast<const char*>(data), static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName)));
    }
    GENERAL_NAMES_free(alt);
  }
  if (!names.empty()) return names;
  // No DNS names in a SAN: the common name, as older certificates carry it.
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index >= 0) {
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)), static_cast<std::size_t>(ASN1_STRING_length(cn)));
  }
  return names;
}

std::int64_t asn1_time_ms(const ASN1_TIME* time) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(time, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

std::string read_file(const std::string& path) {
  BIO* bio = BIO_new_file(path.c_str(), "rb");
  if (bio == nullptr) return {};
  std::string out;
  char block[4096];
  int n = 0;
  while ((n = BIO_read(bio, block, sizeof block)) > 0) out.append(block, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

}  // namespace

// OpenSSL calls these with the SSL_CTX's app data pointing at the ServerContext.
struct ServerContext::Callbacks {
  static const ServerContext& context(SSL* ssl) {
    return *static_cast<const ServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  }

  // SNI: picks the certificate (the default one is already the context's); strict_sni refuses
  // names nothing matches.
  static int on_servername(SSL* ssl, int* alert, void* /*arg*/) noexcept {
    const ServerContext& self = context(ssl);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const int index = self.certificate_for(name != nullptr ? name : "");
    if (index < 0) {
      if (!self.strict_sni_) return SSL_TLSEXT_ERR_OK;
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (index == 0) return SSL_TLSEXT_ERR_OK;
    const Certificate& chosen = *self.certificates_[static_cast<std::size_t>(index)];
    SSL_set_session_id_context(ssl, chosen.session_context.data(), static_cast<unsigned int>(chosen.session_context.size()));
    if (SSL_use_cert_and_key(ssl, chosen.cert, chosen.key, chosen.chain, 1) != 1) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    SSL_set_ex_data(ssl, certificate_slot(), reinterpret_cast<void*>(static_cast<std::intptr_t>(index)));
    return SSL_TLSEXT_ERR_OK;
  }

  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                     unsigned int in_length, void* /*arg*/) noexcept {
    const ServerContext& self = context(ssl);
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, out_length, self.alpn_wire_.data(),
                              static_cast<unsigned int>(self.alpn_wire_.size()), in,
                              in_length) != OPENSSL_NPN_NEGOTIATED) {
      return SSL_TLSEXT_ERR_NOACK;  // no common protocol: carry on without ALPN (HTTP/1.1)
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }

  static int on_ocsp_status(SSL* ssl, void* /*arg*/) noexcept {
    const ServerContext& self = context(ssl);
    const auto index = static_cast<std::size_t>(reinterpret_cast<std::intptr_t>(SSL_get_ex_data(ssl, certificate_slot())));
    const std::string& staple = self.certificates_[index]->ocsp;
    if (staple.empty()) return SSL_TLSEXT_ERR_NOACK;
    auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(staple.size()));
    if (copy == nullptr) return SSL_TLSEXT_ERR_NOACK;
    std::memcpy(copy, staple.data(), staple.size());
    SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(staple.size()));
    return SSL_TLSEXT_ERR_OK;
  }

  // Session tickets: sealed with the shared keys (AES-256-CBC + HMAC-SHA256, RFC 5077's layout).
  static int on_ticket_key(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                           EVP_MAC_CTX* mac, int encrypt) noexcept {
    const ServerContext& self = context(ssl);
    TicketKey key;
    bool stale = false;
    if (encrypt == 1) {
      key = self.keys_->current();
      std::memcpy(key_name, key.name.data(), key.name.size());
      if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) return -1;
    } else if (!self.keys_->find(key_name, key, stale)) {
      return 0;  // a ticket from keys long rotated out: a full handshake
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac_key.data(), key.hmac_key.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
    const int ok = encrypt == 1 ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes_key.data(), iv)
                                : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes_key.data(), iv);
    if (ok != 1) return -1;
    // 2: valid, and the client gets a new ticket. Always under TLS 1.3, whose clients use each
    // ticket once (RFC 8446 C.4) and could not resume again without one; under TLS 1.2 only when
    // the key is no longer the current one.
    return stale || SSL_version(ssl) == TLS1_3_VERSION ? 2 : 1;
  }
};

ServerContext::ServerContext() = default;

ServerContext::~ServerContext() { SSL_CTX_free(ctx_); }

int ServerContext::certificate_for(std::string_view server_name) const {
  if (server_name.empty()) return -1;
  for (std::size_t i = 0; i < certificates_.size(); ++i) {
    for (const std::string& name : certificates_[i]->names) {
      if (name_matches(name, server_name)) return static_cast<int>(i);
    }
  }
  return -1;
}

core::Result<std::shared_ptr<const ServerContext>, config::ConfigError> ServerContext::build(
    const config::FrontendTls& tls, std::shared_ptr<TicketKeys> keys, std::int64_t now_ms) {
  std::shared_ptr<ServerContext> self(new ServerContext());
  self->keys_ = std::move(keys);
  self->strict_sni_ = tls.strict_sni;
  ERR_clear_error();
  self->ctx_ = SSL_CTX_new(TLS_server_method());
  if (self->ctx_ == nullptr) {
    return config::ConfigError::at(tls.certificates.front().at, "cannot create a TLS context: " + openssl_error());
  }
  SSL_CTX* ctx = self->ctx_;
  SSL_CTX_set_app_data(ctx, self.get());

  for (const config::TlsCertificate& entry : tls.certificates) {
    auto certificate = std::make_unique<Certificate>();
    BIO* bio = BIO_new_file(entry.cert.c_str(), "rb");
    certificate->cert = bio != nullptr ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
    if (certificate->cert == nullptr) {
      BIO_free(bio);
      return config::ConfigError::at(entry.at, fmt::format("certificate \"{}\" holds no PEM certificate ({})", entry.cert, openssl_error()));
    }
    certificate->chain = sk_X509_new_null();
    while (X509* next = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) sk_X509_push(certificate->chain, next);
    BIO_free(bio);
    ERR_clear_error();  // the end of the file ends the chain
    bio = BIO_new_file(entry.key.c_str(), "rb");
    certificate->key = bio != nullptr ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(bio);
    if (certificate->key == nullptr) {
      return config::ConfigError::at(entry.at, fmt::format("key \"{}\" holds no PEM private key (an encrypted key is not supported: "
                                            "haven cannot ask for a pass phrase) ({})",
                                            entry.key, openssl_error()));
    }
    if (X509_check_private_key(certificate->cert, certificate->key) != 1) {
      ERR_clear_error();
      return config::ConfigError::at(entry.at, fmt::format("key \"{}\" does not belong to certificate \"{}\"", entry.key, entry.cert));
    }
    CertificateInfo info;
    info.file = entry.cert;
    info.subject = x509_name_line(X509_get_subject_name(certificate->cert));
    info.not_after_ms = asn1_time_ms(X509_get0_notAfter(certificate->cert));
    if (info.not_after_ms != 0 && info.not_after_ms <= now_ms) {
      return config::ConfigError::at(entry.at, fmt::format("certificate \"{}\" ({}) expired on {:%Y-%m-%d %H:%M:%S} UTC", entry.cert,
                                            info.subject, fmt::gmtime(static_cast<std::time_t>(info.not_after_ms / 1000))));
    }
    certificate->names = dns_names(certificate->cert);
    unsigned int digest_length = 0;
    X509_digest(certificate->cert, EVP_sha256(), certificate->session_context.data(), &digest_length);
    info.names = certificate->names;
    if (!entry.ocsp.empty()) {
      certificate->ocsp = read_file(entry.ocsp);
      const unsigned char* data = reinterpret_cast<const unsigned char*>(certificate->ocsp.data());
      OCSP_RESPONSE* response = d2i_OCSP_RESPONSE(nullptr, &data, static_cast<long>(certificate->ocsp.size()));
      if (response == nullptr) {
        ERR_clear_error();
        return config::ConfigError::at(entry.at, fmt::format("OCSP response \"{}\" is not a DER OCSP response", entry.ocsp));
      }
      OCSP_RESPONSE_free(response);
    }
    self->certificates_.push_back(std::move(certificate));
    self->infos_.push_back(std::move(info));
  }
  // The first certificate is the context's own: a handshake for it (or without SNI) costs no switch.
  const Certificate& first = *self->certificates_.front();
  if (SSL_CTX_use_cert_and_key(ctx, first.cert, first.key, first.chain, 1) != 1) {
    return config::ConfigError::at(tls.certificates.front().at, "cannot use the certificate: " + openssl_error());
  }

  SSL_CTX_set_min_proto_version(ctx, tls.min_version == config::TlsVersion::Tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(ctx, tls.ciphers.c_str()) != 1) {
    return config::ConfigError::at(tls.ciphers_at, fmt::format("ciphers \"{}\" names no cipher OpenSSL knows", tls.ciphers));
  }
  if (SSL_CTX_set_ciphersuites(ctx, tls.ciphersuites.c_str()) != 1) {
    return config::ConfigError::at(tls.ciphersuites_at,
                    fmt::format("ciphersuites \"{}\" names no TLS 1.3 suite OpenSSL knows", tls.ciphersuites));
  }
  SSL_CTX_set_dh_auto(ctx, 1);
  // No renegotiation (a client could make the server do handshake work at will), no compression
  // (CRIME), the server's cipher order.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(ctx, 0);

  for (const std::string& protocol : tls.alpn) {
    self->alpn_wire_.push_back(static_cast<unsigned char>(protocol.size()));
    self->alpn_wire_.insert(self->alpn_wire_.end(), protocol.begin(), protocol.end());
  }
  SSL_CTX_set_alpn_select_cb(ctx, &Callbacks::on_alpn, nullptr);
  // OpenSSL's macros for these two cast function pointers C-style.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
  SSL_CTX_set_tlsext_servername_callback(ctx, &Callbacks::on_servername);
  SSL_CTX_set_tlsext_status_cb(ctx, &Callbacks::on_ocsp_status);
#pragma GCC diagnostic pop
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &Callbacks::on_ticket_key);
  // Stateful resumption too (TLS 1.2 clients that send no ticket): a cache in the context, which
  // every worker shares.
  SSL_CTX_set_session_id_context(ctx, first.session_context.data(),
                                 static_cast<unsigned int>(first.session_context.size()));
  // Expired sessions are flushed by the supervisor's hourly TLS duty, not by whichever handshake
  // happens to be the 255th (a full scan of the cache under its lock, on a worker's time).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_AUTO_CLEAR);
  SSL_CTX_sess_set_cache_size(ctx, 20000);
  SSL_CTX_set_timeout(ctx, 3600);
  return std::shared_ptr<const ServerContext>(std::move(self));
}

void ServerContext::flush_expired_sessions(std::int64_t now_ms) const {
  SSL_CTX_flush_sessions(ctx_, static_cast<long>(now_ms / 1000));
}

bool name_matches(std::string_view pattern, std::string_view host) {
  const auto iequal = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
      if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
  };
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // an absolute name
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
    const std::size_t dot = host.find('.');
    // "*.example.com" matches "a.example.com", never "example.com" or "a.b.example.com".
    return dot != std::string_view::npos && dot > 0 && iequal(pattern.substr(1), host.substr(dot));
  }
  return iequal(pattern, host);
}

}  // namespace haven::tls
