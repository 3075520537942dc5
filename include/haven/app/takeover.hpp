#pragma once
// The new binary's side of an upgrade in place (app/handover.hpp has the exchange): asks the
// running haven for its sockets and state, and tells it when it serves (or that it could not).
#include <string>

#include "haven/app/handover.hpp"

namespace haven::app {

class Takeover {
 public:
  Takeover() = default;
  ~Takeover();
  Takeover(const Takeover&) = delete;
  Takeover& operator=(const Takeover&) = delete;

  // Connects to the haven of process `pid` (checked: that process, of this user or root) and
  // receives its listeners (descriptors in
  // handover.listeners[i].fd, owned by the caller) and state. Returns "" or why not.
  std::string start(long pid, Handover& handover);
  // This process accepts on the sockets now: the old one stops accepting, makes this process the
  // service's main one, and confirms ("ok"). Returns "" once confirmed, else why not: then the old
  // one did not stop (it gave up, or it is going for another reason) and this one must not stay.
  std::string ready();
  // This process cannot serve: the old one keeps serving (closing the connection says the same).
  void failed(const std::string& why);
  [[nodiscard]] bool started() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace haven::app
