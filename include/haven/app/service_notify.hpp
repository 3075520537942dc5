#pragma once
// Tells a service manager (systemd's Type=notify, through $NOTIFY_SOCKET) what haven is doing:
// serving, stopping, and, after an upgrade in place, which process is the service's main one now.
// Without a service manager every call does nothing.
namespace haven::app {

// Serving: this process is the service's main process from now on (the one it replaced exits).
void notify_serving();
// An upgrade in place: process `pid` is the service's main process from now on (said by the old
// one, which systemd still follows, before it confirms and can exit).
void notify_main_process(long pid);
// Shutting down for good (not when handing over to a new binary: the service goes on).
void notify_stopping();

}  // namespace haven::app
