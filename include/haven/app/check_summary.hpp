#pragma once
// What `haven --check` prints about a valid configuration.
#include <string>

#include "haven/config/config.hpp"

namespace haven::app {

std::string check_summary(const config::Config& config);

}  // namespace haven::app
