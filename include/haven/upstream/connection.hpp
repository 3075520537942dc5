#pragma once
// One connection to a server, plain TCP or TLS (a net::Stream either way). While a request uses
// it, the proxy's exchange handles its events; while idle in the pool it handles them itself: any
// byte or close from the server ends it, since an idle HTTP/1.1 connection has nothing to say.
#include <cstddef>
#include <memory>

#include "haven/net/buffer_pool.hpp"
#include "haven/net/tcp_stream.hpp"
#include "haven/tls/tls_stream.hpp"
#include "haven/net/deadline.hpp"
#include "haven/upstream/server.hpp"

namespace haven::upstream {

class ConnectionPool;

class Connection final : public net::StreamHandler, private net::HandleOwner {
 public:
  // `tls`: the TLS context when the server speaks TLS (to `server_name`), else nullptr.
  Connection(net::Loop& loop, net::BufferPool& buffers, std::shared_ptr<state::ServerRuntime> server,
             std::shared_ptr<tls::ClientContext> tls, const std::string& server_name, ConnectionPool& pool);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  net::Stream& stream() { return *stream_; }
  // The TLS layer, or nullptr for a plain connection.
  [[nodiscard]] const tls::TlsStream* tls() const { return tls_.get(); }
  // Why TLS failed ("" when it did not, or the connection is plain).
  [[nodiscard]] const std::string& tls_failure() const;
  net::Deadline& timer() { return timer_; }
  // The registry entry of the server it is connected to (kept alive while the connection is).
  [[nodiscard]] const state::ServerRuntime& server() const { return *server_; }
  // Served at least one complete exchange already (a failure before any response byte may then
  // be the server closing an idle connection, and is safe to retry).
  [[nodiscard]] bool reused() const { return reused_; }
  void mark_reused() { reused_ = true; }

  // Ends the connection; the object deletes itself once libuv has let go of its handles.
  void close(bool reset = false);
  [[nodiscard]] bool closing() const { return stream_->closing(); }

 private:
  friend class ConnectionPool;
  // Idle-time handling.
  char* on_alloc(std::size_t& capacity) override;
  void on_read(std::size_t length) override;
  void on_read_end(int status) override;
  void on_write_done(int status) override;
  void on_connect_done(int status) override;
  void on_handle_closed() override;
  static void on_idle_timeout(void* self) noexcept;

  net::TcpStream tcp_;
  std::unique_ptr<tls::TlsStream> tls_;
  net::Stream* stream_;  // tls_ when there is one, else tcp_
  net::Deadline timer_;
  const std::shared_ptr<state::ServerRuntime> server_;
  const std::shared_ptr<tls::ClientContext> tls_context_;  // nullptr for plain TCP
  ConnectionPool& pool_;
  Connection* idle_prev_ = nullptr;  // intrusive idle list of the pool
  Connection* idle_next_ = nullptr;
  int open_handles_ = 2;
  bool reused_ = false;
  bool idle_ = false;
};

// Idle keep-alive connections of one worker, per server registry entry (not per snapshot: a
// reload that keeps a server keeps its pool). Most recently used first: a warm connection is least
// likely to have been closed by the server.
class ConnectionPool {
 public:
  // High enough that a burst never has to reconnect; idle connections expire after keep_alive.
  static constexpr std::size_t kMaxIdlePerServer = 16384;

  // `worker` picks this worker's counters in the servers' registry entries; `buffers` are the
  // worker's (TLS connections read ciphertext into them).
  ConnectionPool(net::Loop& loop, net::BufferPool& buffers, std::size_t worker)
      : loop_(loop), buffers_(buffers), worker_(worker) {}
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  ~ConnectionPool();

  // An idle connection to `server`, now owned by the caller, or nullptr. Connections made under
  // other TLS settings (`tls` is the backend's context now) are closed instead of reused: a reload
  // that turned verification on must not keep serving over unverified connections.
  Connection* take(Server& server, const std::shared_ptr<tls::ClientContext>& tls);
  // A new, unconnected connection owned by the caller; TLS when the server has tls = true (with
  // `tls`, its backend's context).
  Connection* create(Server& server, const std::shared_ptr<tls::ClientContext>& tls);
  // Gives a connection that just finished a complete exchange back; it closes after `idle_timeout`.
  void put(Connection* connection, core::Duration idle_timeout);
  // Closes every idle connection (shutdown).
  void close_all();
  // Closes the idle connections to servers that may not take new requests (DRAIN, MAINT, a
  // runtime weight of 0), and
  // forgets empty lists of servers gone from the registry.
  void close_unwanted();
  // Closes the idle connections to servers not in `servers` (a reload removed or changed them).
  void close_idle_except(const std::vector<const state::ServerRuntime*>& servers);
  [[nodiscard]] std::size_t idle_count() const { return idle_count_; }

 private:
  friend class Connection;
  struct IdleList {
    Connection* head = nullptr;
    std::size_t size = 0;
  };
  void unlink(Connection* connection);

  net::Loop& loop_;
  net::BufferPool& buffers_;
  const std::size_t worker_;
  // Few servers: a flat map is fastest. A key stays valid while its list holds a connection (each
  // holds the entry); an empty list may outlive its entry and is only ever compared, never read.
  std::vector<std::pair<const state::ServerRuntime*, IdleList>> lists_;
  std::size_t idle_count_ = 0;
  IdleList& list_for(const state::ServerRuntime* server);
};

}  // namespace haven::upstream
