#pragma once
// Command-line options.
#include <string>

namespace haven::app {

struct Options {
  std::string config_path;
  bool check_only = false;
  bool show_version = false;
  bool show_help = false;
};

// Parses argv; returns false with `error` set when the arguments are unusable.
bool parse_options(int argc, char** argv, Options& options, std::string& error);
const char* usage();

}  // namespace haven::app
