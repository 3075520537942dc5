#pragma once
// A shift as the runtime API and `haven ctl shift` spell it: strings and whole numbers only
// ({"from": "prod1", "to": "prod2", "steps": "10,25,50,100", "hold": "60s", "min_requests": 100,
// "max_error_rate": "1%", "max_p99": "500ms", "max_error_rate_delta": "0.5%", "failure_limit": 1}).
#include <string>
#include <string_view>

#include "haven/admin/json_body.hpp"
#include "haven/state/traffic_shift.hpp"

namespace haven::admin {

// Fills `plan` from `body` (the defaults stay for members not given). Returns "" or what is wrong.
std::string parse_shift_plan(const JsonObject& body, state::ShiftPlan& plan);

// "1%", "0.5%" or "0.01" as a rate (0.01); nullopt when it is not one from 0 to 1.
std::optional<double> parse_rate(std::string_view text);

}  // namespace haven::admin
