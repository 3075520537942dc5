#pragma once
// Reading and validating a configuration. Never throws: every problem becomes a ConfigError that
// points at the offending key or value.
#include <string>
#include <string_view>

#include "haven/config/config.hpp"
#include "haven/core/result.hpp"

namespace haven::config {

using ConfigResult = core::Result<Config, ConfigError>;

// Parses `text` as if it were the file `source_name` (used in error positions).
ConfigResult parse_config(std::string_view text, const std::string& source_name);

// Reads and parses a file; an unreadable file is a ConfigError at 0:0 naming the file.
ConfigResult load_config_file(const std::string& path);

// Parses "127.0.0.1:8080", "[::1]:8080", "localhost:80", "0.0.0.0:8080"; nullopt-like error text
// in `why` when it is not an address.
bool parse_address(std::string_view text, Address& out, std::string& why);

// As parse_address, but port 0 is accepted too: a listener bound to port 0 gets a port chosen by the
// OS (tests bind that way and discover the port). Servers never have port 0, so parse_address refuses it.
bool parse_bind_address(std::string_view text, Address& out, std::string& why);

}  // namespace haven::config
