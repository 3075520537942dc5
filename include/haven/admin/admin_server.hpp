#pragma once
// The admin listener: HTTP/1.1 on the supervisor's loop, one request per connection (answered
// with Connection: close), strict parsing by the same parser as the proxy, small limits (a 16 KiB
// head, a 64 KiB body, 10 s to send it all), at most 64 connections at once, the oldest giving
// way to a new one.
#include <cstdint>
#include <memory>
#include <string>

#include "haven/admin/admin_api.hpp"
#include "haven/net/listener.hpp"
#include "haven/net/loop.hpp"

namespace haven::admin {

class AdminConnection;

class AdminServer final : private net::AcceptHandler, private net::HandleOwner {
 public:
  AdminServer(net::Loop& loop, AdminApi& api);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Returns "" or why the address could not be bound. A unix socket path (`settings.unix_path`)
  // replaces a stale socket file nobody listens on, never another file.
  std::string open(const config::Admin& settings);
  // Accepts on a listening socket handed over by the process this one replaces (upgrade in
  // place); `unix_path` is the path it is bound to, "" for TCP.
  void adopt(int fd, const std::string& unix_path);
  // The listening socket (-1 when closed), for the process that replaces this one.
  [[nodiscard]] int socket() const { return listener_.fd(); }
  // The unix socket's path now belongs to the process that took the socket over: close() leaves
  // it in place.
  void release_path() { unix_path_.clear(); }
  [[nodiscard]] std::uint16_t port() const { return listener_.port(); }
  // Stops accepting and ends open connections; the loop can then finish.
  void close();

 private:
  friend class AdminConnection;
  static constexpr int kMaxConnections = 64;
  void on_accept(int fd, const sockaddr* peer) override;
  // Always: when every slot is taken, the oldest connection makes room (see on_accept), so idle
  // or trickling connections can never lock an operator out.
  bool can_accept() override { return !closed_; }
  void on_handle_closed() override {}
  void connection_closed(AdminConnection* connection);

  net::Loop& loop_;
  AdminApi& api_;
  net::Listener listener_;
  AdminConnection* first_ = nullptr;  // intrusive list of open connections, newest first
  AdminConnection* last_ = nullptr;
  int connections_ = 0;
  bool closed_ = false;
  std::string unix_path_;  // removed at close()
};

}  // namespace haven::admin
