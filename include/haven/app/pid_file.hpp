#pragma once
// --pid-file: where a running haven says which process it is, for init scripts and for
// `haven --upgrade-from PIDFILE`.
#include <string>

namespace haven::app {

// The PID in a pid file (one decimal number, as haven --pid-file writes). Returns 0 with `error`
// set when the file is missing, unreadable or names no running process.
long read_pid_file(const std::string& path, std::string& error);

// Writes this process's PID to `path` (beside it and renamed over it). Returns "" or why not.
std::string write_pid_file(const std::string& path);
// Removes `path` if it still names this process (a successor may have written its own PID).
void remove_pid_file(const std::string& path);

}  // namespace haven::app
