#include "haven/admin/admin_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "haven/http/message_parser.hpp"
#include "haven/net/socket_address.hpp"
#include "haven/net/tcp_stream.hpp"
#include "haven/net/timer.hpp"

namespace haven::admin {

namespace {
constexpr std::size_t kMaxHeadBytes = 16 * 1024;
constexpr std::size_t kMaxBodyBytes = 64 * 1024;
constexpr core::Duration kRequestTime{10000};

std::string reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}
}  // namespace

// One admin request: read it whole, answer, close. Owns its socket and timer; frees itself once
// both have closed.
class AdminConnection final : private net::StreamHandler, private net::HandleOwner, private http::MessageSink {
 public:
  AdminConnection(AdminServer& server, net::Loop& loop)
      : server_(server), stream_(loop, *this), timer_(loop, &AdminConnection::on_timeout, this),
        parser_(http::MessageKind::Request, *this) {
    http::ParseLimits limits;
    limits.max_head_bytes = kMaxHeadBytes;
    limits.max_headers = 64;
    limits.underscores = http::UnderscoreHeaders::Reject;
    parser_.set_limits(limits);
  }

  void start(int fd) {
    if (stream_.adopt(fd) != 0) {
      ::close(fd);
      finish();
      return;
    }
    timer_.start(kRequestTime);
    if (stream_.read_start() != 0) finish();
  }

  void abort() { finish(); }
  [[nodiscard]] bool finished() const { return finished_; }

  AdminConnection* next = nullptr;
  AdminConnection* prev = nullptr;

 private:
  // --- socket
  char* on_alloc(std::size_t& capacity) override {
    // Bytes go straight into the request buffer; it never moves under the parser's spans because
    // a request is parsed once, after it has all arrived or the buffer is full.
    const std::size_t limit = kMaxHeadBytes + kMaxBodyBytes + 1;
    if (input_.size() < limit) input_.resize(limit);
    capacity = limit - received_;
    return input_.data() + received_;
  }
  void on_read(std::size_t length) override {
    if (answered_) return;
    const char* base = input_.data();
    const auto result = parser_.execute(base, base + received_, length);
    received_ += length;
    if (answered_) return;
    if (result.status == http::ExecuteStatus::Error) {
      const auto failure = parser_.failure();
      answer(json_error(failure == http::ParseFailure::TooLarge ? 431 : 400,
                        fmt::format("malformed request: {}", parser_.failure_reason())));
      return;
    }
    if (received_ > kMaxHeadBytes + kMaxBodyBytes) answer(json_error(413, "the request is too large"));
  }
  void on_read_end(int /*status*/) override {
    if (!answered_) finish();
  }
  void on_write_done(int /*status*/) override { finish(); }
  void on_connect_done(int /*status*/) override {}

  // --- parser
  http::MessageHead& on_message_begin() override {
    head_.clear();
    body_.clear();
    return head_;
  }
  int on_head(http::MessageHead& head) override {
    if (head.framing == http::BodyFraming::ContentLength && head.content_length > kMaxBodyBytes) {
      answer(json_error(413, "the request body is too large"));
      return http::kSinkPause;
    }
    return http::kSinkContinue;
  }
  void on_body(const char* data, std::size_t length) override {
    if (body_.size() + length > kMaxBodyBytes) {
      answer(json_error(413, "the request body is too large"));
      return;
    }
    body_.append(data, length);
  }
  int on_message_complete() override {
    if (answered_) return http::kSinkPause;
    AdminRequest request;
    const char* base = input_.data();
    request.method = head_.method;
    request.target = std::string(head_.target.view(base));
    for (const auto& header : head_.headers) {
      const std::string_view name = header.name.view(base);
      const std::string_view value = header.value.view(base);
      if (http::iequals(name, "host")) request.host = value;
      if (http::iequals(name, "origin")) request.origin = value;
      if (http::iequals(name, "sec-fetch-site")) request.fetch_site = value;
      if (http::iequals(name, "authorization")) request.authorization = value;
    }
    request.body = std::move(body_);
    AdminResponse response = server_.api_.handle(request);
    if (head_.method == http::Method::Head) head_only_ = true;
    answer(std::move(response));
    return http::kSinkPause;
  }

  // --- answer
  void answer(AdminResponse response) {
    if (answered_) return;
    answered_ = true;
    stream_.read_stop();
    out_ = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n"
        "Content-Security-Policy: default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
        "img-src data:\r\n{}Connection: close\r\n\r\n",
        response.status, reason_phrase(response.status), response.content_type, response.body.size(),
        response.allow.empty() ? std::string() : "Allow: " + response.allow + "\r\n");
    if (!head_only_) out_ += response.body;
    const net::IoSlice slice{out_.data(), out_.size()};
    switch (stream_.write({&slice, 1})) {
      case net::WriteOutcome::Done:
      case net::WriteOutcome::Failed:
        finish();
        return;
      case net::WriteOutcome::Pending:
        return;  // on_write_done finishes
    }
  }

  static void on_timeout(void* self) noexcept {
    auto& connection = *static_cast<AdminConnection*>(self);
    if (!connection.answered_) {
      connection.answer(json_error(408, "the request did not arrive in time"));
    } else {
      connection.finish();
    }
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    timer_.close(this);
    stream_.close(this);
  }
  void on_handle_closed() override {
    if (--open_handles_ == 0) server_.connection_closed(this);
  }

  AdminServer& server_;
  net::TcpStream stream_;
  net::Timer timer_;
  http::MessageParser parser_;
  http::MessageHead head_;
  std::string input_;
  std::size_t received_ = 0;
  std::string body_;
  std::string out_;
  int open_handles_ = 2;
  bool answered_ = false;
  bool head_only_ = false;
  bool finished_ = false;
};

AdminServer::AdminServer(net::Loop& loop, AdminApi& api) : loop_(loop), api_(api), listener_(loop, *this) {}

AdminServer::~AdminServer() = default;

namespace {

// A listening unix socket at `path`, or -1 with `error` set.
int bind_unix_socket(const std::string& path, std::string& error) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    error = "path too long";
    return -1;
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      error = "a file that is not a socket is in the way";
      return -1;
    }
    // A socket someone still answers on is in use; one left by a haven that died is replaced.
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool answered = probe >= 0 && ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    if (probe >= 0) ::close(probe);
    if (answered) {
      error = "another process listens on it";
      return -1;
    }
    ::unlink(path.c_str());
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::strerror(errno);
    return -1;
  }
  const mode_t previous = ::umask(0117);  // srw-rw----: the owner and its group
  const bool bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  const int bind_errno = errno;
  ::umask(previous);
  if (!bound || ::listen(fd, 64) != 0) {
    error = std::strerror(bound ? errno : bind_errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::string AdminServer::open(const config::Admin& settings) {
  std::string error;
  if (!settings.unix_path.empty()) {
    const int fd = bind_unix_socket(settings.unix_path, error);
    if (fd < 0) return fmt::format("admin listener cannot bind unix:{}: {}", settings.unix_path, error);
    unix_path_ = settings.unix_path;
    listener_.adopt(fd);
    return {};
  }
  net::SocketAddress address;
  address.assign(settings.bind.host, settings.bind.port);
  if (listener_.open(address, error, /*reuse_port=*/false) != 0) {
    return fmt::format("admin listener cannot bind {}: {}", settings.bind.text, error);
  }
  return {};
}

void AdminServer::adopt(int fd, const std::string& unix_path) {
  unix_path_ = unix_path;
  listener_.adopt(fd);
}

void AdminServer::close() {
  if (closed_) return;
  closed_ = true;
  listener_.close(this);
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
  for (AdminConnection* connection = first_; connection != nullptr;) {
    AdminConnection* next = connection->next;
    connection->abort();
    connection = next;
  }
}

void AdminServer::on_accept(int fd, const sockaddr* /*peer*/) {
  // Full: the oldest connection still open goes (it has had the longest to send its request).
  if (connections_ >= kMaxConnections) {
    for (AdminConnection* oldest = last_; oldest != nullptr; oldest = oldest->prev) {
      if (oldest->finished()) continue;
      oldest->abort();
      break;
    }
  }
  auto* connection = new AdminConnection(*this, loop_);
  connection->next = first_;
  if (first_ != nullptr) first_->prev = connection;
  first_ = connection;
  if (last_ == nullptr) last_ = connection;
  ++connections_;
  connection->start(fd);
}

void AdminServer::connection_closed(AdminConnection* connection) {
  if (connection->prev != nullptr) connection->prev->next = connection->next;
  if (connection->next != nullptr) connection->next->prev = connection->prev;
  if (first_ == connection) first_ = connection->next;
  if (last_ == connection) last_ = connection->prev;
  --connections_;
  delete connection;
}

}  // namespace haven::admin
