#include "haven/app/options.hpp"

#include <getopt.h>

#include <cstdlib>

namespace haven::app {

const char* usage() {
  return "Usage: haven -c FILE           run with the configuration in FILE\n"
         "       haven --check -c FILE   validate FILE, print a summary, and exit\n"
         "       haven -c FILE --upgrade-from PIDFILE\n"
         "                               upgrade in place: take the listening sockets, health and\n"
         "                               admin state of the haven named in PIDFILE, serve, and let\n"
         "                               it drain and exit (it keeps serving if this one fails)\n"
         "       haven --version         print the version\n"
         "       haven --help            print this help\n"
         "       haven ctl COMMAND       talk to a running haven's admin listener (haven ctl --help)\n"
         "\n"
         "Options: --pid-file FILE   write the PID to FILE once serving (with --upgrade-from:\n"
         "                           that PIDFILE unless given)\n"
         "\n"
         "Signals: SIGTERM or SIGINT stop accepting, let in-flight requests finish\n"
         "(up to timeouts.shutdown), then exit 0. SIGHUP reloads FILE: a valid one is put\n"
         "in force without closing a listener or losing a request; an invalid one is\n"
         "reported (FILE:LINE:COL) and the running configuration stays. SIGUSR2 upgrades in\n"
         "place: starts the haven binary now at the path this one was started from, with the\n"
         "same options, as with --upgrade-from.\n";
}

bool parse_options(int argc, char** argv, Options& options, std::string& error) {
  static const option long_options[] = {
      {"config", required_argument, nullptr, 'c'},
      {"check", no_argument, nullptr, 't'},
      {"version", no_argument, nullptr, 'v'},
      {"help", no_argument, nullptr, 'h'},
      {"pid-file", required_argument, nullptr, 'p'},
      {"upgrade-from", required_argument, nullptr, 'u'},
      {"upgrade-from-pid", required_argument, nullptr, 'U'},
      {nullptr, 0, nullptr, 0},
  };
  optind = 1;
  opterr = 0;
  int option_char = 0;
  while ((option_char = getopt_long(argc, argv, ":c:tvhp:", long_options, nullptr)) != -1) {
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
      case 'p':
        options.pid_file = optarg;
        break;
      case 'u':
        options.upgrade_from = optarg;
        break;
      case 'U': {
        char* end = nullptr;
        options.upgrade_from_pid = std::strtol(optarg, &end, 10);
        if (end == optarg || *end != '\0' || options.upgrade_from_pid <= 0) {
          error = std::string("--upgrade-from-pid needs a process ID, not ") + optarg;
          return false;
        }
        break;
      }
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
  if (!options.upgrade_from.empty() && options.upgrade_from_pid != 0) {
    error = "give --upgrade-from or --upgrade-from-pid, not both";
    return false;
  }
  if (!options.upgrade_from.empty() && options.pid_file.empty()) options.pid_file = options.upgrade_from;
  if (!options.show_help && !options.show_version && options.config_path.empty()) {
    error = "no configuration given (use -c FILE)";
    return false;
  }
  return true;
}

}  // namespace haven::app
