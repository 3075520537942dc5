#pragma once
// Command-line options.
#include <string>

namespace haven::app {

struct Options {
  std::string config_path;
  std::string pid_file;      // --pid-file: written once serving, removed at exit
  std::string upgrade_from;  // --upgrade-from PIDFILE: take over from the haven it names
  long upgrade_from_pid = 0;  // --upgrade-from-pid PID (what SIGUSR2 starts)
  bool check_only = false;
  bool show_version = false;
  bool show_help = false;
};

// Parses argv; returns false with `error` set when the arguments are unusable.
bool parse_options(int argc, char** argv, Options& options, std::string& error);
const char* usage();

}  // namespace haven::app
