// Vectorisable fp32 transcendental helpers for the CPU kernels.
//
// Without -ffast-math, glibc offers no SIMD variant of expf, so a loop that calls std::exp
// runs one scalar call per element and a memory-bound kernel turns compute-bound. These are
// branch-free (selects only), so `#pragma omp simd` vectorises them in every
// FUSEBOX_CPU_MULTIVERSION clone.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ops/common/cpu_vector.h"

namespace fusebox::ops::cpu {

FUSEBOX_ALWAYS_INLINE float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

FUSEBOX_ALWAYS_INLINE uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// exp(x), relative error within 2 ulp of expf on [-87, 88] (Cephes expf: Cody-Waite range
// reduction x = n ln2 + r, |r| <= ln2/2, degree-7 polynomial for exp(r)). Outside that range
// the input is clamped, so the result saturates at exp(-87) = 1.6e-38 and exp(88) = 1.7e38
// instead of reaching 0 or inf: every 2^n stays a normal float. NaN propagates.
FUSEBOX_ALWAYS_INLINE float exp_f32(float x) {
  // std::max(x, lo) is `x < lo ? lo : x`: a NaN passes both clamps and poisons the polynomial.
  x = std::max(x, -87.f);
  x = std::min(x, 88.f);
  // Round x/ln2 to the nearest integer with the 1.5 * 2^23 trick: n appears in the low
  // mantissa bits of t, so no float->int conversion (undefined for NaN) is needed.
  const float kShift = 12582912.f;
  float t = x * 1.44269504088896341f + kShift;
  float n = t - kShift;
  int32_t ni = static_cast<int32_t>(float_to_bits(t) - float_to_bits(kShift));
  float r = x - n * 0.693359375f;  // ln2 split in two so that n * hi is exact
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  float scale = bits_to_float(static_cast<uint32_t>(ni + 127) << 23);
  return p * scale;
}

// 1 / (1 + exp(-x)), ATen's formula, within 3 ulp of the exact sigmoid where it is above
// 1e-37. exp_f32's clamp keeps it finite: below x = -88 it returns ~6e-39 instead of
// underflowing towards 0. A select-free form (one division, no branches on the sign) is
// what keeps the vectorised loop short: a version that selected between e / (1 + e) and
// 1 / (1 + e) by sign ran 25% slower.
FUSEBOX_ALWAYS_INLINE float sigmoid_f32(float x) {
  return 1.f / (1.f + exp_f32(-x));
}

}  // namespace fusebox::ops::cpu
