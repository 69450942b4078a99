// A 64-bit bijective mixer with full avalanche (splitmix64's finaliser), shared by the prefix
// hashes and the sampler's counter-based random numbers. Pure; thread-safe.
#pragma once

#include <cstdint>

namespace mm {

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

}  // namespace mm
