#include "haven/app/service_notify.hpp"

#include <unistd.h>

#include <systemd/sd-daemon.h>

#include <fmt/format.h>

namespace haven::app {

void notify_serving() {
  // After an upgrade in place the old process has named this one already (notify_main_process);
  // saying it again costs nothing. NotifyAccess=all lets a process other than the main one speak.
  const std::string state = fmt::format("MAINPID={}\nREADY=1\nSTATUS=serving", static_cast<long>(::getpid()));
  sd_notify(0, state.c_str());
}

void notify_main_process(long pid) {
  const std::string state = fmt::format("MAINPID={}", pid);
  sd_notify(0, state.c_str());
}

void notify_stopping() { sd_notify(0, "STOPPING=1\nSTATUS=finishing in-flight requests"); }

}  // namespace haven::app
