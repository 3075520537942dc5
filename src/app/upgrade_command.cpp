#include "haven/app/upgrade_command.hpp"

#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

extern char** environ;

namespace haven::app {

std::string current_executable(const char* argv0) {
  const std::string_view name = argv0 != nullptr ? argv0 : "";
  if (name.find('/') != std::string_view::npos) {
    if (name.front() == '/') return std::string(name);
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof cwd) != nullptr) return std::string(cwd) + "/" + std::string(name);
  } else if (!name.empty()) {
    // Started by name: the shell found it on PATH, and so does this.
    const char* path = std::getenv("PATH");
    std::string_view directories = path != nullptr ? path : "";
    while (!directories.empty()) {
      const std::size_t colon = directories.find(':');
      const std::string_view directory = directories.substr(0, colon);
      std::string candidate = std::string(directory.empty() ? "." : directory) + "/" + std::string(name);
      if (::access(candidate.c_str(), X_OK) == 0) {
        if (candidate.front() != '/') break;  // a relative PATH entry: /proc/self/exe is surer
        return candidate;
      }
      if (colon == std::string_view::npos) break;
      directories.remove_prefix(colon + 1);
    }
  }
  char resolved[PATH_MAX];
  const ssize_t length = ::readlink("/proc/self/exe", resolved, sizeof resolved - 1);
  if (length <= 0) return {};
  return std::string(resolved, static_cast<std::size_t>(length));
}

long spawn_upgrade(const UpgradeCommand& command, std::string& error) {
  if (command.executable.empty()) {
    error = "the path of this binary is unknown (no /proc/self/exe at start-up)";
    return 0;
  }
  std::vector<std::string> arguments = {command.executable, "-c", command.config_path, "--upgrade-from-pid",
                                        std::to_string(::getpid())};
  if (!command.pid_file.empty()) {
    arguments.emplace_back("--pid-file");
    arguments.push_back(command.pid_file);
  }
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);

  // The child starts with no signal blocked and the default action for those this process
  // handles through libuv (a handler does not survive exec anyway; the mask would).
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGCHLD);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t child = 0;
  const int result = ::posix_spawn(&child, command.executable.c_str(), nullptr, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  if (result != 0) {
    error = std::strerror(result);
    return 0;
  }
  return static_cast<long>(child);
}

}  // namespace haven::app
