#pragma once
/// @file Small string helpers.

#include <cstdint>
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

/// "0:42", "1:02:03", "2d 03:04:05"; "?" for a negative or unknown duration.
std::string formatDuration(double seconds);

/// FNV-1a, 64 bits: a stable hash of `text` (the same on every machine and run), continuing from
/// `hash` to hash several strings in turn.
inline constexpr uint64_t kFnvOffset = 1469598103934665603ULL;
uint64_t fnv1a(std::string_view text, uint64_t hash = kFnvOffset);

/// CRC-32C (Castagnoli; TFRecord and the frame shards use it) of `size` bytes, continuing from
/// `crc` (0 to start). SSE 4.2's crc32 instruction where the CPU has it (every x86-64 since
/// 2008-2011), else crc32cPortable.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);
/// The same by a table, a byte at a time: any CPU (and the reference the tests hold it to).
uint32_t crc32cPortable(const void* data, size_t size, uint32_t crc = 0);

}  // namespace tsn
