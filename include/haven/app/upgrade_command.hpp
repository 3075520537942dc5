#pragma once
// How SIGUSR2 starts the binary that replaces a running haven: the executable at the path this
// process was started from (a package upgrade puts the new binary there), with the same
// configuration and pid file, told to take over from this process.
#include <string>

namespace haven::app {

struct UpgradeCommand {
  std::string executable;  // the path this binary was started from, as of start-up
  std::string config_path;
  std::string pid_file;    // "" when none
};

// The path this process was started from (`argv0` made absolute, or found on PATH), read at
// start-up. Symbolic links are kept: a versioned install whose link now points at the new
// version runs the new version. Falls back to /proc/self/exe; "" when nothing says.
std::string current_executable(const char* argv0);

// Starts `command` with --upgrade-from-pid set to this process. Returns the child's PID, or 0
// with `error` set.
long spawn_upgrade(const UpgradeCommand& command, std::string& error);

}  // namespace haven::app
