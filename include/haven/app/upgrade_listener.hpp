#pragma once
// The running haven's side of an upgrade in place (app/handover.hpp has the exchange): listens on
// its hand-over socket, lets only its own user (or root) in, one new binary at a time, hands it the
// sockets and state, and then either stops accepting (the new one said "ready") or keeps serving
// (it refused, failed, closed or took too long).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "haven/app/handover.hpp"
#include "haven/net/listener.hpp"
#include "haven/net/readable_watch.hpp"
#include "haven/net/timer.hpp"

namespace haven::app {

class UpgradeSource {
 public:
  // "" when a hand-over may start now, else why not (said to the new binary).
  virtual std::string upgrade_refusal() = 0;
  // Fills `handover` with the listeners and state, or returns why it cannot (then nothing is
  // sent: a partial set of sockets would leave some closed with connections in their queues).
  // The descriptors stay the source's and open until the outcome (the kernel gives the new
  // process its own); from here until upgrade_done or upgrade_failed the source keeps its sockets
  // and state as handed over.
  virtual std::string prepare_handover(Handover& handover) = 0;
  // Process `pid` serves on the sockets now: stop accepting, make it the service's main process,
  // and drain. The new process is told "ok" after this returns.
  virtual void upgrade_done(long pid) = 0;
  // The hand-over did not happen; keep serving as before.
  virtual void upgrade_failed(const std::string& why) = 0;

 protected:
  ~UpgradeSource() = default;
};

class UpgradeListener final : private net::AcceptHandler, private net::HandleOwner {
 public:
  // How long the new binary may take from receiving the sockets to saying "ready" (it loads
  // certificates and starts its workers in that time).
  static constexpr std::uint64_t kReadyTimeoutMs = 60'000;
  // How long it may take to say hello once connected.
  static constexpr std::uint64_t kHelloTimeoutMs = 5'000;

  UpgradeListener(net::Loop& loop, UpgradeSource& source);
  ~UpgradeListener();
  UpgradeListener(const UpgradeListener&) = delete;
  UpgradeListener& operator=(const UpgradeListener&) = delete;

  // Listens on handover_socket_name(getpid()). Returns "" or why not.
  std::string open();
  // Stops listening; a hand-over under way fails (the process is going anyway).
  void close();

 private:
  class Session;
  void on_accept(int fd, const sockaddr* peer) override;
  bool can_accept() override { return !closed_; }
  void on_handle_closed() override {}
  void session_ended(Session* session);

  net::Loop& loop_;
  UpgradeSource& source_;
  net::Listener listener_;
  std::unique_ptr<Session> session_;              // the one hand-over under way
  std::vector<std::unique_ptr<Session>> ended_;   // closing their handles; freed once closed
  bool closed_ = false;
};

}  // namespace haven::app
