#pragma once
// A client connection as its worker sees it, whatever protocol it speaks: the worker keeps them in
// a list, counts them per client and per frontend, and tells them of reloads, server trouble and
// shutdown. HTTP/1 is the one kind today (Http1Connection).
#include <cstddef>
#include <memory>
#include <optional>

#include "haven/proxy/client_table.hpp"
#include "haven/proxy/snapshot.hpp"

struct sockaddr;

namespace haven::proxy {

class Worker;

class DownstreamConnection {
 public:
  DownstreamConnection(std::shared_ptr<const Snapshot> snapshot, std::size_t frontend_index)
      : snapshot_(std::move(snapshot)), frontend_index_(frontend_index) {}
  virtual ~DownstreamConnection() = default;
  DownstreamConnection(const DownstreamConnection&) = delete;
  DownstreamConnection& operator=(const DownstreamConnection&) = delete;

  // Takes the accepted socket from `peer`. On failure the connection closes itself.
  virtual void start(int fd, const sockaddr* peer) = 0;
  // Shutdown: a connection in a request closes after it. One between requests gets a short grace
  // in which a request it sends is still answered (with Connection: close): closing it at once
  // would reset a request already on its way, which the client sees fail.
  virtual void drain() = 0;
  // The worker switched to a reload's snapshot: an idle connection follows it, or closes when its
  // frontend is gone.
  virtual void on_reload() = 0;
  // The shutdown grace time is over.
  virtual void abort_now() = 0;
  // A server went DOWN, or failed a check: requests waiting on it in vain may go elsewhere.
  virtual void on_server_trouble() = 0;

 protected:
  std::shared_ptr<const Snapshot> snapshot_;
  std::size_t frontend_index_;

 private:
  friend class Worker;
  std::optional<ClientKey> client_key_;  // counted against max_connections_per_client
  DownstreamConnection* prev_ = nullptr;  // the worker's list
  DownstreamConnection* next_ = nullptr;
};

}  // namespace haven::proxy
