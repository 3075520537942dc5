#include "haven/app/options.hpp"

#include <getopt.h>

namespace haven::app {

const char* usage() {
  return "Usage: haven -c FILE           run with the configuration in FILE\n"
         "       haven --check -c FILE   validate FILE, print a summary, and exit\n"
         "       haven --version         print the version\n"
         "       haven --help            print this help\n"
         "       haven ctl COMMAND       talk to a running haven's admin listener (haven ctl --help)\n"
         "\n"
         "Signals: SIGTERM or SIGINT stop accepting, let in-flight requests finish\n"
         "(up to timeouts.shutdown), then exit 0. SIGHUP reloads FILE: a valid one is put\n"
         "in force without closing a listener or losing a request; an invalid one is\n"
         "reported (FILE:LINE:COL) and the running configuration stays.\n";
}

bool parse_options(int argc, char** argv, Options& options, std::string& error) {
  static const option long_options[] = {
      {"config", required_argument, nullptr, 'c'},
      {"check", no_argument, nullptr, 't'},
      {"version", no_argument, nullptr, 'v'},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  optind = 1;
  opterr = 0;
  int option_char = 0;
  while ((option_char = getopt_long(argc, argv, ":c:tvh", long_options, nullptr)) != -1) {
    switch (option_char) {
      case 'c':
        options.config_path = optarg;
        break;
      case 't':
        options.check_only = true;
        break;
      case 'v':
        options.show_version = true;
        break;
      case 'h':
        options.show_help = true;
        break;
      case ':':
        error = std::string("option ") + argv[optind - 1] + " needs a value";
        return false;
      default:
        error = std::string("unknown option ") + argv[optind - 1];
        return false;
    }
  }
  if (optind < argc) {
    error = std::string("unexpected argument ") + argv[optind];
    return false;
  }
  if (!options.show_help && !options.show_version && options.config_path.empty()) {
    error = "no configuration given (use -c FILE)";
    return false;
  }
  return true;
}

}  // namespace haven::app
