#pragma once
// The open-file limit a configuration needs.
#include <string>

namespace haven::app {

struct FdLimitResult {
  int max_connections = 0;  // what the process can actually hold
  std::string warning;      // set when the limit had to be lowered
};

// Every client connection may need a server connection too: descriptors for two per
// connection plus a margin. Raises the soft limit as far as the hard limit allows; when that is
// not enough, lowers the effective max_connections instead of failing.
FdLimitResult raise_fd_limit(int max_connections);

}  // namespace haven::app
