#pragma once
/// @file Small string helpers.

#include <string>
#include <string_view>
#include <vector>

namespace tsn {

/// Edit distance (insertions, deletions, substitutions) between two strings.
size_t editDistance(std::string_view a, std::string_view b);

/// The candidate closest to `word` by edit distance, or "" when none is reasonably close.
std::string closestMatch(std::string_view word, const std::vector<std::string>& candidates);

/// Splits on `sep`, keeping empty fields.
std::vector<std::string> split(std::string_view text, char sep);

/// Removes leading and trailing whitespace.
std::string trim(std::string_view text);

}  // namespace tsn
