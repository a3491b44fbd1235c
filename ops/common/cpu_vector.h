// Helpers shared by the CPU kernels: per-CPU code paths, fp32 <-> storage conversion.
//
// fusebox is built for the baseline x86-64 ISA, so the compiler would only emit SSE2 for our
// loops. FUSEBOX_CPU_MULTIVERSION compiles a function for x86-64-v4 (AVX-512), x86-64-v3
// (AVX2+FMA) and the baseline, and the loader picks the best one for the CPU at start-up
// (GCC/clang target_clones, an ifunc). Loop bodies are always_inline templates so each clone
// gets its own vectorised copy; `#pragma omp simd` (with -fopenmp-simd) lets the compiler
// vectorise float reductions without -ffast-math.
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define FUSEBOX_CPU_MULTIVERSION \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FUSEBOX_CPU_MULTIVERSION
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FUSEBOX_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define FUSEBOX_ALWAYS_INLINE inline
#endif

namespace fusebox::ops::cpu {

FUSEBOX_ALWAYS_INLINE float to_float(float v) {
  return v;
}
FUSEBOX_ALWAYS_INLINE float to_float(c10::BFloat16 v) {
  uint32_t bits = static_cast<uint32_t>(v.x) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}
FUSEBOX_ALWAYS_INLINE float to_float(c10::Half v) {
  return static_cast<float>(v);
}

template <typename T>
FUSEBOX_ALWAYS_INLINE T from_float(float v);

template <>
FUSEBOX_ALWAYS_INLINE float from_float<float>(float v) {
  return v;
}

// Round-to-nearest-even, as c10::BFloat16's constructor does, written branch-light so that it
// vectorises; NaN stays a (quiet) NaN.
template <>
FUSEBOX_ALWAYS_INLINE c10::BFloat16 from_float<c10::BFloat16>(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  uint32_t is_nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
  uint16_t bits = static_cast<uint16_t>(is_nan ? 0x7FC0u : rounded);
  return c10::BFloat16(bits, c10::BFloat16::from_bits());
}

template <>
FUSEBOX_ALWAYS_INLINE c10::Half from_float<c10::Half>(float v) {
  return c10::Half(v);
}

// Rounds through the storage type: what `x.to(dtype)` does to an fp32 value.
template <typename T>
FUSEBOX_ALWAYS_INLINE float round_to(float v) {
  return to_float(from_float<T>(v));
}

}  // namespace fusebox::ops::cpu
