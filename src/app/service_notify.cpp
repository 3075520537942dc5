#include "haven/app/service_notify.hpp"

#include <unistd.h>

#include <systemd/sd-daemon.h>

#include <fmt/format.h>

namespace haven::app {

void notify_serving() {
  // MAINPID first: after an upgrade in place systemd must follow this process before the old one
  // exits, or it would take the old one's exit for the service's end (NotifyAccess=all lets a
  // process other than the main one say so).
  const std::string state = fmt::format("MAINPID={}\nREADY=1\nSTATUS=serving", static_cast<long>(::getpid()));
  sd_notify(0, state.c_str());
}

void notify_stopping() { sd_notify(0, "STOPPING=1\nSTATUS=finishing in-flight requests"); }

}  // namespace haven::app
