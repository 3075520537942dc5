#pragma once
// Shared helpers for the config tests: parse text that must load, or must fail, and show the
// loader's own message when it does not behave.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "haven/config/loader.hpp"

namespace haven::config::test {

// One frontend and one backend with one server: the smallest valid file, to add a table to.
constexpr std::string_view kOneBackend = R"(
[frontends.web]
bind = "127.0.0.1:0"
default_backend = "app"

[backends.app]
servers = [ { name = "a", address = "127.0.0.1:9" } ]
)";

inline Config must_load(std::string_view text, const std::string& source = "test.toml") {
  ConfigResult result = parse_config(text, source);
  REQUIRE_MESSAGE(result.ok(), (result.ok() ? std::string() : result.error().to_string()));
  return std::move(result).value();
}

inline ConfigError must_fail(std::string_view text, const std::string& source = "test.toml") {
  const ConfigResult result = parse_config(text, source);
  REQUIRE_MESSAGE(!result.ok(), "the configuration was accepted");
  return result.error();
}

// "LINE:COL", so that a failed CHECK shows both numbers at once.
inline std::string where(const ConfigError& error) {
  return std::to_string(error.line) + ":" + std::to_string(error.column);
}

inline bool contains(std::string_view text, std::string_view fragment) {
  return text.find(fragment) != std::string_view::npos;
}

}  // namespace haven::config::test
