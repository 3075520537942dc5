#pragma once
// One TCP connection to a server. While a request uses it, the proxy's exchange handles its
// events; while idle in the pool it handles them itself: any byte or close from the server ends
// it, since an idle HTTP/1.1 connection has nothing to say.
#include <cstddef>

#include "haven/net/tcp_stream.hpp"
#include "haven/net/deadline.hpp"
#include "haven/upstream/server.hpp"

namespace haven::upstream {

class ConnectionPool;

class Connection final : public net::StreamHandler, private net::HandleOwner {
 public:
  Connection(net::Loop& loop, Server& server, ConnectionPool& pool);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  net::TcpStream& stream() { return stream_; }
  net::Deadline& timer() { return timer_; }
  Server& server() { return server_; }
  // Served at least one complete exchange already (a failure before any response byte may then
  // be the server closing an idle connection, and is safe to retry).
  [[nodiscard]] bool reused() const { return reused_; }
  void mark_reused() { reused_ = true; }

  // Ends the connection; the object deletes itself once libuv has let go of its handles.
  void close(bool reset = false);
  [[nodiscard]] bool closing() const { return stream_.closing(); }

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

  net::TcpStream stream_;
  net::Deadline timer_;
  Server& server_;
  ConnectionPool& pool_;
  Connection* idle_prev_ = nullptr;  // intrusive idle list of the pool
  Connection* idle_next_ = nullptr;
  int open_handles_ = 2;
  bool reused_ = false;
  bool idle_ = false;
};

// Idle keep-alive connections of one worker, per server. Most recently used first: a warm
// connection is least likely to have been closed by the server.
class ConnectionPool {
 public:
  // High enough that a burst never has to reconnect; idle connections expire after keep_alive.
  static constexpr std::size_t kMaxIdlePerServer = 16384;

  explicit ConnectionPool(net::Loop& loop) : loop_(loop) {}
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  ~ConnectionPool();

  // An idle connection to `server`, now owned by the caller, or nullptr.
  Connection* take(Server& server);
  // A new, unconnected connection owned by the caller.
  Connection* create(Server& server);
  // Gives a connection that just finished a complete exchange back; it closes after `idle_timeout`.
  void put(Connection* connection, core::Duration idle_timeout);
  // Closes every idle connection (shutdown, reload).
  void close_all();
  [[nodiscard]] std::size_t idle_count() const { return idle_count_; }

 private:
  friend class Connection;
  struct IdleList {
    Connection* head = nullptr;
    std::size_t size = 0;
  };
  void unlink(Connection* connection);

  net::Loop& loop_;
  std::vector<std::pair<const Server*, IdleList>> lists_;  // few servers: a flat map is fastest
  std::size_t idle_count_ = 0;
  IdleList& list_for(const Server& server);
};

}  // namespace haven::upstream
