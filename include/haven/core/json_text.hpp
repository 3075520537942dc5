#pragma once
// Writing JSON text by hand (event log, access log, admin API): strings escaped as RFC 8259 asks.
#include <string>
#include <string_view>

namespace haven::core {

// Appends `text` as the inside of a JSON string.
void append_json_escaped(std::string& out, std::string_view text);
// Appends `text` as a JSON string, quotes included.
void append_json_string(std::string& out, std::string_view text);

}  // namespace haven::core
