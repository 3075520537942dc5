#pragma once
// TLS towards one backend's servers, built from its `tls` settings: certificate verification
// (on by default: the system's CAs or ca_file, and the server's name), an optional client
// certificate (mTLS), and session resumption across the connections of a pool (the last session
// each server gave, shared by every worker). Built at start-up and on every reload.
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "haven/config/config.hpp"
#include "haven/core/result.hpp"

struct ssl_ctx_st;
struct ssl_st;
struct ssl_session_st;

namespace haven::tls {

class ClientContext {
 public:
  static core::Result<std::shared_ptr<ClientContext>, config::ConfigError> build(const config::UpstreamTls& tls,
                                                                                 std::int64_t now_ms);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  [[nodiscard]] ssl_ctx_st* native() const { return ctx_; }
  // Sets up a new client session to `server_name`: SNI (a host name only, never an address),
  // the name its certificate must carry, and the last session that server gave to resume.
  void prepare(ssl_st* ssl, const std::string& server_name);
  [[nodiscard]] bool verifies() const { return verify_; }

 private:
  struct Callbacks;
  ClientContext() = default;
  // Keeps `session` (owned) as the one to resume with `server_name`.
  void remember(const std::string& server_name, ssl_session_st* session);

  ssl_ctx_st* ctx_ = nullptr;
  bool verify_ = true;
  std::mutex sessions_mutex_;
  std::vector<std::pair<std::string, ssl_session_st*>> sessions_;  // under sessions_mutex_; few servers
};

}  // namespace haven::tls
