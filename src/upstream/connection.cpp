#include "haven/upstream/connection.hpp"

#include <algorithm>

namespace haven::upstream {

namespace {
// Bytes an idle connection reads only to notice that the server closed it (or misbehaved). One
// per worker thread: workers never share mutable memory.
thread_local char idle_scratch[256];
}  // namespace

Connection::Connection(net::Loop& loop, net::BufferPool& buffers, std::shared_ptr<state::ServerRuntime> server,
                       std::shared_ptr<tls::ClientContext> tls, const std::string& server_name, ConnectionPool& pool)
    : tcp_(loop, *this),
      stream_(&tcp_),
      timer_(loop, &Connection::on_idle_timeout, this),
      server_(std::move(server)),
      tls_context_(std::move(tls)),
      pool_(pool) {
  if (tls_context_ != nullptr) {
    tls_ = std::make_unique<tls::TlsStream>(loop, tcp_, buffers, tls_context_, server_name, *this);
    stream_ = tls_.get();
  }
}

const std::string& Connection::tls_failure() const {
  static const std::string kNone;
  return tls_ != nullptr ? tls_->failure() : kNone;
}

void Connection::close(bool reset) {
  if (stream_->closing()) return;
  if (idle_) pool_.unlink(this);
  // Whoever used it lets go now: a write or read callback that libuv still delivers, and the timer,
  // must reach this connection, never a session that has moved on (or been freed).
  stream_->set_handler(*this);
  timer_.set_callback(&Connection::on_idle_timeout, this);
  stream_->close(this, reset);
  timer_.close(this);
}

void Connection::on_handle_closed() {
  if (--open_handles_ == 0) delete this;
}

char* Connection::on_alloc(std::size_t& capacity) {
  capacity = sizeof idle_scratch;
  return idle_scratch;
}

void Connection::on_read(std::size_t /*length*/) { close(); }
void Connection::on_read_end(int /*status*/) { close(); }
void Connection::on_write_done(int /*status*/) {}
void Connection::on_connect_done(int /*status*/) {}

void Connection::on_idle_timeout(void* self) noexcept { static_cast<Connection*>(self)->close(); }

ConnectionPool::~ConnectionPool() { close_all(); }

ConnectionPool::IdleList& ConnectionPool::list_for(const state::ServerRuntime* server) {
  for (auto& [key, list] : lists_) {
    if (key == server) return list;
  }
  lists_.emplace_back(server, IdleList{});
  return lists_.back().second;
}

Connection* ConnectionPool::take(Server& server, const std::shared_ptr<tls::ClientContext>& tls) {
  IdleList& list = list_for(&server.runtime);
  const tls::ClientContext* wanted = server.config.tls ? tls.get() : nullptr;
  while (list.head != nullptr && list.head->tls_context_.get() != wanted) list.head->close();
  Connection* connection = list.head;
  if (connection == nullptr) return nullptr;
  unlink(connection);
  // It keeps reading: the caller becomes the handler of what arrives.
  connection->timer_.clear();
  return connection;
}

Connection* ConnectionPool::create(Server& server, const std::shared_ptr<tls::ClientContext>& tls) {
  (*server.runtime.traffic)[worker_].connections.add();
  return new Connection(loop_, buffers_, server.runtime_entry, server.config.tls ? tls : nullptr, server.config.sni,
                        *this);
}

void ConnectionPool::put(Connection* connection, core::Duration idle_timeout) {
  IdleList& list = list_for(connection->server_.get());
  if (list.size >= kMaxIdlePerServer || connection->closing()) {
    connection->close();
    return;
  }
  connection->stream_->set_handler(*connection);
  connection->timer_.set_callback(&Connection::on_idle_timeout, connection);
  connection->timer_.set(idle_timeout);
  if (connection->stream_->read_start() != 0) {
    connection->close();
    return;
  }
  connection->idle_ = true;
  connection->idle_prev_ = nullptr;
  connection->idle_next_ = list.head;
  if (list.head != nullptr) list.head->idle_prev_ = connection;
  list.head = connection;
  ++list.size;
  ++idle_count_;
  (*connection->server_->traffic)[worker_].idle.add(1);
}

void ConnectionPool::unlink(Connection* connection) {
  if (!connection->idle_) return;
  IdleList& list = list_for(connection->server_.get());
  if (connection->idle_prev_ != nullptr) {
    connection->idle_prev_->idle_next_ = connection->idle_next_;
  } else {
    list.head = connection->idle_next_;
  }
  if (connection->idle_next_ != nullptr) connection->idle_next_->idle_prev_ = connection->idle_prev_;
  connection->idle_prev_ = connection->idle_next_ = nullptr;
  connection->idle_ = false;
  --list.size;
  --idle_count_;
  (*connection->server_->traffic)[worker_].idle.add(-1);
}

void ConnectionPool::close_all() {
  for (auto& [server, list] : lists_) {
    while (list.head != nullptr) list.head->close();
  }
}

void ConnectionPool::close_idle_except(const std::vector<const state::ServerRuntime*>& servers) {
  for (auto& [server, list] : lists_) {
    if (std::find(servers.begin(), servers.end(), server) != servers.end()) continue;
    while (list.head != nullptr) list.head->close();
  }
  std::erase_if(lists_, [](const auto& entry) { return entry.second.head == nullptr; });
}

void ConnectionPool::close_unwanted() {
  for (auto& [server, list] : lists_) {
    // A non-empty list's entry is alive: its connections hold it.
    const state::ServerRuntime* entry = list.head != nullptr ? list.head->server_.get() : nullptr;
    if (entry != nullptr && (entry->admin_state() != state::AdminState::Ready || entry->runtime_weight() == 0)) {
      while (list.head != nullptr) list.head->close();
    }
  }
  std::erase_if(lists_, [](const auto& entry) { return entry.second.head == nullptr; });
}

}  // namespace haven::upstream
