// The one tolerance table for parity tests. An element passes when
//   |actual - expected| <= atol + rtol * |expected|
// and a test passes only when EVERY element passes. Inputs are drawn ~N(0, 1), so values
// are O(1) and atol means roughly "this many units in the last place of an O(1) value".
#pragma once

#include <torch/torch.h>

namespace fusebox::test {

struct Tolerance {
  double atol;
  double rtol;
};

// What is compared: an elementwise output, a gradient that flows back through a row
// (dx: cancellation in g - n*c makes it noisier), or a gradient reduced over many rows
// (dW: a sum of `reduced` terms, whose rounding error grows like sqrt(reduced)).
enum class Quantity { kOutput, kInputGrad, kReducedGrad };

inline Tolerance tolerance(torch::ScalarType dtype, Quantity q, int64_t reduced = 1) {
  double grow = std::sqrt(static_cast<double>(std::max<int64_t>(reduced, 1)));
  switch (dtype) {
    case torch::kFloat32:
      // fp32 kernels and fp32 references differ only in summation order and rsqrt vs
      // 1/sqrt: a few ulps (1 ulp = 1.2e-7).
      if (q == Quantity::kOutput) return {1e-5, 1e-5};
      if (q == Quantity::kInputGrad) return {2e-5, 1e-4};
      return {2e-5 * grow, 1e-4};
    case torch::kBFloat16:
      // bf16 has 8 significant bits (ulp 2^-7 = 7.8e-3 at 1.0). The reference rounds every
      // intermediate to bf16; the kernel keeps fp32 until the store: 1-2 ulps on outputs,
      // more on gradients whose reference intermediates were rounded.
      if (q == Quantity::kOutput) return {1.6e-2, 1.6e-2};
      if (q == Quantity::kInputGrad) return {4e-2, 3e-2};
      return {2e-2 * grow, 3e-2};
    case torch::kHalf:
      // fp16 has 11 significant bits (ulp 2^-10 = 9.8e-4 at 1.0).
      if (q == Quantity::kOutput) return {2e-3, 2e-3};
      if (q == Quantity::kInputGrad) return {5e-3, 5e-3};
      return {3e-3 * grow, 5e-3};
    default:
      return {1e-6, 1e-6};
  }
}

// Attention (cpu_fused_attention vs eager_causal_attention). In bf16 the reference rounds three
// times where the kernel rounds once: the scores q k^T * scaling (an error of 2^-9 |s| in the
// exponent, i.e. up to ~1% in a probability for |s| ~ 4), the probabilities before P V, and the
// output; the kernel keeps scores, probabilities and the P V sum in fp32 and rounds only the
// output. Measured over test_attention_parity's cases: outputs within 1.5 bf16 ulps
// (|diff| <= 0.0115 (1 + |expected|)), so outputs get 3 ulps at 1.0 instead of the generic 2;
// gradients stay within a fifth of the generic reduced-gradient entry, which they keep. fp32
// differs only in summation order and exp_f32 (2 ulp): the generic entries, with 20x margin.
inline Tolerance attention_tolerance(torch::ScalarType dtype, Quantity q, int64_t reduced = 1) {
  if (dtype == torch::kBFloat16 && q == Quantity::kOutput) return {2.4e-2, 2.4e-2};
  return tolerance(dtype, q, reduced);
}

// CUDA kernels against the reference run on the CPU (fp32 only; on one GPU the table above
// applies). Results built from cos/sin(position x inv_freq) -- RoPE -- inherit the two
// devices' disagreement on inv_freq itself: CPU and CUDA fp32 pow agree to a few ulps (3e-7
// relative), which moves an angle by up to 3e-7 x position radians and an output by at most
// |x1| + |x2| (~10 for N(0, 1) draws) times that. Meaningless for positions near 1e6.
inline Tolerance rope_across_devices(int64_t max_abs_position) {
  return {1e-5 + 3e-6 * static_cast<double>(max_abs_position), 1e-5};
}

}  // namespace fusebox::test
