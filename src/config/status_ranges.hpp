#pragma once
// expect_status lists: "200-399", "200,204", "200-299,304".
#include <string>
#include <string_view>
#include <vector>

#include "haven/config/config.hpp"

namespace haven::config::detail {

// Fills `out` (replacing what was there) or explains in `why` what is wrong. Each status must be
// 100..599 and each range low <= high; blanks around items are allowed.
bool parse_status_ranges(std::string_view text, std::vector<StatusRange>& out, std::string& why);

}  // namespace haven::config::detail
