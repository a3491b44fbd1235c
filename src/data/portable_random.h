// Deterministic randomness for the data layer that gives the same numbers with every standard
// library. std::mt19937_64's output is fixed by the standard, but std::uniform_int_distribution
// and std::shuffle are not (libstdc++ and libc++ draw differently), so a dataset or an epoch
// order built with them could differ between the CPU CI build and the GPU machine, and a
// resumed run could see other batches. These helpers only use raw engine output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace fusebox::data {

// splitmix64 finaliser (Steele, Lea, Flood 2014): a cheap bijective mix, so a pure function
// of an integer (which pairs are held out) looks random without any state.
constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Uniform in [0, n), n >= 1. Rejects the lowest 2^64 mod n raw values so that the accepted
// range is a multiple of n (no modulo bias).
inline uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;  // == 2^64 mod n
  while (true) {
    const uint64_t r = rng();
    if (r >= threshold) return r % n;
  }
}

// Fisher-Yates shuffle driven by uniform_below.
template <typename T>
void portable_shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(uniform_below(rng, i));
    std::swap(v[i - 1], v[j]);
  }
}

}  // namespace fusebox::data
