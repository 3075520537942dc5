#pragma once
// "Did you mean ...?" hints for misspelt keys, choices and backend names.
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace haven::config::detail {

// Edits (insert, delete, substitute, swap two neighbours) needed to turn `a` into `b`. Swaps count
// as one edit because "retires" for "retries" is the typo people actually make.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `word` when it is at most two edits away (and closer than retyping the
// whole word); the first such candidate wins a tie.
std::optional<std::string_view> closest_match(std::string_view word,
                                              std::span<const std::string_view> candidates);

// " (did you mean \"retries\"?)", or "" when nothing is close.
std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace haven::config::detail
