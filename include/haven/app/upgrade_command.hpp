#pragma once
// How SIGUSR2 starts the binary that replaces a running haven: the executable at the path this
// process was started from (a package upgrade puts the new binary there), with the same
// configuration and pid file, told to take over from this process.
#include <string>

namespace haven::app {

struct UpgradeCommand {
  std::string executable;  // as /proc/self/exe named it at start-up (before any replacement)
  std::string config_path;
  std::string pid_file;    // "" when none
};

// The executable of this process, read at start-up. "" when /proc is not there.
std::string current_executable();

// Starts `command` with --upgrade-from-pid set to this process. Returns the child's PID, or 0
// with `error` set.
long spawn_upgrade(const UpgradeCommand& command, std::string& error);

}  // namespace haven::app
