#include "haven/app/upgrade_listener.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "haven/core/json_text.hpp"
#include "haven/net/fd_passing.hpp"

namespace haven::app {

namespace {

// Sending is bounded: the other end is a local process reading at once.
constexpr std::chrono::milliseconds kSendTimeout{5000};
constexpr std::size_t kMaxLine = 512;

}  // namespace

class UpgradeListener::Session final : private net::HandleOwner {
 public:
  Session(UpgradeListener& owner, int fd, long peer_pid)
      : owner_(owner),
        fd_(fd),
        peer_pid_(peer_pid),
        watch_(owner.loop_, &Session::on_readable, this),
        deadline_(owner.loop_, &Session::on_deadline, this) {
    watch_.start(fd_);
    deadline_.start(core::Duration(static_cast<std::int64_t>(kHelloTimeoutMs)));
  }
  ~Session() { ::close(fd_); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  [[nodiscard]] bool closed() const { return ended_ && pending_closes_ == 0; }
  // The process goes away: a hand-over under way fails.
  void abandon() { fail("this haven is shutting down"); }

 private:
  enum class Phase : std::uint8_t { Hello, AwaitingReady, Ended };

  static void on_readable(void* self) noexcept { static_cast<Session*>(self)->read_available(); }
  static void on_deadline(void* self) noexcept {
    auto& session = *static_cast<Session*>(self);
    // Timers run before the loop polls: what already arrived is read before it counts as late.
    session.read_available();
    if (session.ended_) return;
    session.fail(session.phase_ == Phase::Hello
                     ? "the new process did not introduce itself"
                     : fmt::format("the new process did not report ready within {} s", kReadyTimeoutMs / 1000));
  }

  void read_available() {
    while (!ended_) {
      char c = 0;
      const ssize_t n = ::recv(fd_, &c, 1, MSG_DONTWAIT);
      if (n == 1) {
        if (c != '\n') {
          if (line_.size() >= kMaxLine) return fail("the new process sent a line too long");
          line_.push_back(c);
          continue;
        }
        std::string line;
        line.swap(line_);
        handle_line(line);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      return fail(phase_ == Phase::Hello ? "the new process went away before asking"
                                         : "the new process exited or closed the connection before it was ready");
    }
  }

  void handle_line(const std::string& line) {
    if (phase_ == Phase::Hello) {
      if (line != kHandoverHello) return refuse("unknown greeting (a haven of another version?)");
      if (std::string why = owner_.source_.upgrade_refusal(); !why.empty()) return refuse(why);
      Handover handover;
      if (std::string why = owner_.source_.prepare_handover(handover); !why.empty()) return refuse(why);
      in_progress_ = true;
      std::vector<int> fds;
      for (const HandedListener& listener : handover.listeners) fds.push_back(listener.fd);
      const std::string error = send_all_frames(handover_to_json(handover), fds);
      if (!error.empty()) return fail("could not send the sockets: " + error);
      phase_ = Phase::AwaitingReady;
      deadline_.start(core::Duration(static_cast<std::int64_t>(kReadyTimeoutMs)));
      return;
    }
    if (line == "ready") {
      in_progress_ = false;
      owner_.source_.upgrade_done(peer_pid_);
      // Confirmed only now that this process accepts no more: a new process without the "ok"
      // does not stay, so two never serve side by side.
      net::send_all(fd_, "ok\n", kSendTimeout);
      return end();
    }
    if (line.starts_with("failed: ")) return fail(fmt::format("the new process could not start: {}", line.substr(8)));
    fail(fmt::format("the new process said \"{}\"", line));
  }

  std::string send_all_frames(const std::string& json, const std::vector<int>& fds) {
    std::size_t sent = 0;
    do {
      const std::size_t count = std::min(net::kMaxFdsPerFrame, fds.size() - sent);
      const std::string_view payload = sent == 0 ? std::string_view(json) : std::string_view();
      if (std::string error = net::send_frame(fd_, payload, {fds.data() + sent, count}, kSendTimeout); !error.empty()) {
        return error;
      }
      sent += count;
    } while (sent < fds.size());
    return {};
  }

  void refuse(const std::string& why) {
    std::string json = "{\"refused\":";
    core::append_json_string(json, why);
    json += "}";
    net::send_frame(fd_, json, {}, kSendTimeout);
    end();
  }

  void fail(const std::string& why) {
    if (ended_) return;
    if (in_progress_) {
      in_progress_ = false;
      owner_.source_.upgrade_failed(why);
    }
    end();
  }

  void end() {
    if (ended_) return;
    ended_ = true;
    phase_ = Phase::Ended;
    pending_closes_ = 2;
    watch_.close(this);
    deadline_.close(this);
    owner_.session_ended(this);  // may move this session; nothing of it is used after
  }

  void on_handle_closed() override { --pending_closes_; }

  UpgradeListener& owner_;
  const int fd_;
  const long peer_pid_;
  net::ReadableWatch watch_;
  net::Timer deadline_;
  std::string line_;
  Phase phase_ = Phase::Hello;
  int pending_closes_ = 0;
  bool in_progress_ = false;  // the source handed its state over and waits for the outcome
  bool ended_ = false;
};

UpgradeListener::UpgradeListener(net::Loop& loop, UpgradeSource& source)
    : loop_(loop), source_(source), listener_(loop, *this) {}

UpgradeListener::~UpgradeListener() = default;

std::string UpgradeListener::open() {
  const std::string name = handover_socket_name(static_cast<long>(::getpid()));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, name.data(), name.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fmt::format("upgrade socket: {}", std::strerror(errno));
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0 || ::listen(fd, 4) != 0) {
    const int saved = errno;
    ::close(fd);
    return fmt::format("upgrade socket @{}: {}", name.substr(1), std::strerror(saved));
  }
  listener_.adopt(fd);
  return {};
}

void UpgradeListener::close() {
  if (closed_) return;
  closed_ = true;
  listener_.close(this);
  if (session_) session_->abandon();
}

void UpgradeListener::on_accept(int fd, const sockaddr* /*peer*/) {
  // The abstract namespace has no file permissions: the kernel's word on who connected decides.
  ucred peer{};
  socklen_t length = sizeof peer;
  // A peer in another PID namespace reads as PID 0: not a process this one could name or answer to.
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 || peer.pid == 0 ||
      (peer.uid != ::geteuid() && peer.uid != 0)) {
    ::close(fd);
    return;
  }
  std::erase_if(ended_, [](const auto& session) { return session->closed(); });
  if (session_) {
    std::string json = R"({"refused":"another upgrade is under way"})";
    net::send_frame(fd, json, {}, kSendTimeout);
    ::close(fd);
    return;
  }
  session_ = std::make_unique<Session>(*this, fd, static_cast<long>(peer.pid));
}

void UpgradeListener::session_ended(Session* session) {
  if (session_.get() == session) ended_.push_back(std::move(session_));
}

}  // namespace haven::app
