#include <fmt/format.h>

#include "haven/config/config.hpp"

namespace haven::config {

// The compiler-style prefix lets editors and terminals jump straight to the offending value. An
// error that is not about a position inside the file (unreadable file) still uses 0:0 so that the
// shape never changes for tools that parse it.
std::string ConfigError::to_string() const {
  return fmt::format("{}:{}:{}: {}", file, line, column, message);
}

}  // namespace haven::config
