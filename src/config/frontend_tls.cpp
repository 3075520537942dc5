#include <array>

#include <fmt/format.h>

#include "readable_file.hpp"
#include "sections.hpp"

namespace haven::config::detail {

namespace {

bool read_certificate(const TableReader& entry, const std::filesystem::path& base_dir, TlsCertificate& out) {
  static constexpr std::array<std::string_view, 3> kKeys{"cert", "key", "ocsp"};
  if (!entry.allow_only(kKeys) ||
      !entry.require("cert", "each certificate needs \"cert\" (a PEM file: the certificate, then its chain)") ||
      !entry.require("key", "each certificate needs \"key\" (a PEM file with its private key)") ||
      !entry.read_string("cert", out.cert) || !entry.read_string("key", out.key) ||
      !entry.read_string("ocsp", out.ocsp)) {
    return false;
  }
  Errors& errors = entry.errors();
  return check_readable_file(errors, *entry.find("cert"), "certificate", base_dir, out.cert) &&
         check_readable_file(errors, *entry.find("key"), "key", base_dir, out.key) &&
         (out.ocsp.empty() || check_readable_file(errors, *entry.find("ocsp"), "OCSP response", base_dir, out.ocsp));
}

bool read_certificates(const TableReader& tls, const std::filesystem::path& base_dir, FrontendTls& out) {
  const toml::array* list = nullptr;
  if (!tls.require("certificates", "a tls table needs certificates = [{ cert = \"...\", key = \"...\" }]") ||
      !tls.read_array("certificates", list)) {
    return false;
  }
  if (list->empty()) return tls.errors().fail(*list, "certificates must list at least one certificate");
  for (const toml::node& element : *list) {
    const toml::table* table = nullptr;
    if (!expect_table(tls.errors(), element, "each certificate", table)) return false;
    TlsCertificate certificate;
    certificate.at = position_of(tls.errors(), element);
    if (!read_certificate(TableReader(tls.errors(), *table, "in a certificate"), base_dir, certificate)) return false;
    out.certificates.push_back(std::move(certificate));
  }
  return true;
}

bool read_alpn(const TableReader& tls, FrontendTls& out) {
  std::vector<const toml::node*> nodes;
  std::vector<std::string> alpn;
  if (!tls.read_strings("alpn", alpn, &nodes)) return false;
  if (nodes.empty() && tls.find("alpn") == nullptr) return true;
  if (alpn.empty()) return tls.errors().fail(*tls.find("alpn"), "alpn must name at least one protocol (\"http/1.1\")");
  for (std::size_t i = 0; i < alpn.size(); ++i) {
    // Only HTTP/1.1 is spoken so far: offering h2 would make browsers speak it.
    if (alpn[i] != "http/1.1") {
      return tls.errors().fail(*nodes[i], fmt::format("alpn can only list \"http/1.1\" (\"{}\" is not supported)",
                                                      alpn[i]));
    }
  }
  out.alpn = std::move(alpn);
  return true;
}

}  // namespace

bool read_frontend_tls(const TableReader& frontend, std::string_view name, const std::filesystem::path& base_dir,
                       FrontendTls& out) {
  const toml::table* table = nullptr;
  if (!frontend.read_table("tls", table)) return false;
  if (table == nullptr) return true;
  static constexpr std::array<std::string_view, 6> kKeys{"certificates", "strict_sni",   "min_version",
                                                         "ciphers",      "ciphersuites", "alpn"};
  static constexpr std::array<std::string_view, 2> kVersions{"TLSv1.2", "TLSv1.3"};
  const TableReader tls(frontend.errors(), *table, fmt::format("in the tls table of frontend \"{}\"", name));
  std::string min_version = "TLSv1.2";
  if (!tls.allow_only(kKeys) || !read_certificates(tls, base_dir, out) || !tls.read_bool("strict_sni", out.strict_sni) ||
      !tls.read_choice("min_version", kVersions, min_version) || !tls.read_string("ciphers", out.ciphers) ||
      !tls.read_string("ciphersuites", out.ciphersuites) || !read_alpn(tls, out)) {
    return false;
  }
  out.min_version = min_version == "TLSv1.3" ? TlsVersion::Tls13 : TlsVersion::Tls12;
  const auto position = [&](std::string_view key) {
    const toml::node* node = tls.find(key);
    return position_of(tls.errors(), node != nullptr ? *node : static_cast<const toml::node&>(*table));
  };
  out.ciphers_at = position("ciphers");
  out.ciphersuites_at = position("ciphersuites");
  return true;
}

}  // namespace haven::config::detail
