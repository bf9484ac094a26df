#pragma once
/// @file Seeds derived from a base seed and the parts that tell their uses apart.

#include <cstdint>

namespace tsn {

/// splitmix64's finaliser over a combination of `a` and `b`: nearby inputs give unrelated
/// seeds; the same on every machine.
constexpr uint64_t mixSeed(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9E3779B97F4A7C15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// mixSeed folded over every part: deriveSeed(seed, epoch, slot).
template <class... Parts>
constexpr uint64_t deriveSeed(uint64_t base, Parts... parts) {
  ((base = mixSeed(base, static_cast<uint64_t>(parts))), ...);
  return base;
}

}  // namespace tsn
