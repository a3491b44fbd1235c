// Forward of cpu_fused_attention: one task per (batch, q head, block of 64 query rows).
//
// Per task, with Q the block's rows (fp32), m/l the running max and sum per row and O the fp32
// accumulator, for each key block K_j, V_j at or left of the diagonal:
//   S = Q K_j^T * scaling                  (masked: key > row + Sk - Sq)
//   m' = max(m, rowmax S);  P = exp(S - m');  l = l * exp(m - m') + rowsum P
//   O = O * exp(m - m') + P V_j;  m = m'
// then out = O / l and lse = m + log l, the one number per row the backward needs to rebuild P.
// A q head reads its kv head h / (Hq / Hkv) in place: kv heads are never repeated.
#include <ATen/Parallel.h>

#include <atomic>
#include <cmath>
#include <type_traits>
#include <vector>

#include "ops/attention/cpu_fused_attention.h"
#include "ops/attention/cpu_fused_attention_tile.h"
#include "ops/common/cpu_math.h"

namespace fusebox::ops::attention {
namespace {

struct ForwardArgs {
  const void *q, *k, *v;
  void* out;
  float* lse;
  int64_t heads_q, heads_kv, s_q, s_k, d;
  float scaling;
};

// Floats of per-thread scratch: the Q block, a transposed K block, a V block, the score tile,
// the O accumulator, m and l.
int64_t scratch_floats(int64_t d) {
  int64_t dp = round_up(d, kLanes);
  return kBlockQ * dp + d * kBlockK + kBlockK * dp + kBlockQ * kBlockK + kBlockQ * dp + 2 * kBlockQ;
}

// Row r of the score tile s (nkp columns, the first `visible` unmasked) becomes probabilities
// against the updated running max; O's row is rescaled by how far the max moved.
FUSEBOX_ALWAYS_INLINE void online_softmax_row(float* s, int64_t visible, int64_t nkp, float scaling,
                                              float& m, float& l, float* o, int64_t dp) {
  float block_max = kNegInf;
#pragma omp simd reduction(max : block_max)
  for (int64_t j = 0; j < visible; ++j) {
    s[j] *= scaling;
    block_max = std::max(block_max, s[j]);
  }
  float m_new = std::max(m, block_max);
  // exp(m - m_new) with m = -inf (first block) is 0: nothing accumulated yet to rescale.
  float alpha = m == kNegInf ? 0.f : cpu::exp_f32(m - m_new);
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < nkp; ++j) {
    float p = j < visible ? cpu::exp_f32(s[j] - m_new) : 0.f;
    s[j] = p;
    sum += p;
  }
  l = l * alpha + sum;
  m = m_new;
  if (alpha != 1.f) {
#pragma omp simd
    for (int64_t i = 0; i < dp; ++i)
      o[i] *= alpha;
  }
}

template <typename T>
FUSEBOX_ALWAYS_INLINE void forward_block(const ForwardArgs& a, int64_t bh, int64_t qb,
                                         float* scratch) {
  const int64_t d = a.d, dp = round_up(d, kLanes);
  const int64_t b = bh / a.heads_q, h = bh % a.heads_q;
  const int64_t kv_head = b * a.heads_kv + h / (a.heads_q / a.heads_kv);
  const Causal causal{a.s_q, a.s_k};
  const int64_t q0 = qb * kBlockQ, nq = std::min(kBlockQ, a.s_q - q0);
  const T* q = static_cast<const T*>(a.q) + (bh * a.s_q + q0) * d;
  const T* k = static_cast<const T*>(a.k) + kv_head * a.s_k * d;
  const T* v = static_cast<const T*>(a.v) + kv_head * a.s_k * d;
  T* out = static_cast<T*>(a.out) + (bh * a.s_q + q0) * d;
  float* lse = a.lse + bh * a.s_q + q0;

  float* qf = scratch;               // [kBlockQ x dp]
  float* kt = qf + kBlockQ * dp;     // [d x kBlockK]
  float* vf = kt + d * kBlockK;      // [kBlockK x dp]
  float* s = vf + kBlockK * dp;      // [kBlockQ x kBlockK]
  float* o = s + kBlockQ * kBlockK;  // [kBlockQ x dp]
  float* m = o + kBlockQ * dp;       // [kBlockQ]
  float* l = m + kBlockQ;            // [kBlockQ]
  pack_rows(q, nq, d, qf, dp);
  std::fill(o, o + nq * dp, 0.f);
  std::fill(m, m + nq, kNegInf);
  std::fill(l, l + nq, 0.f);

  // Blocks right of keys_end are above the diagonal for every row of this block: skipped.
  const int64_t end = causal.keys_end(q0, nq);
  for (int64_t k0 = 0; k0 < end; k0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, end - k0), nkp = round_up(nk, kLanes);
    pack_transposed(k + k0 * d, nk, d, kt, kBlockK, nkp);
    const float* vb = vf;
    if constexpr (std::is_same_v<T, float>) {
      if (d == dp) vb = v + k0 * d;  // already fp32 rows of the padded width: read in place
    }
    if (vb == vf) pack_rows(v + k0 * d, nk, d, vf, dp);
    gemm<false>(nq, nkp, d, qf, dp, 1, kt, kBlockK, s, kBlockK);
    for (int64_t r = 0; r < nq; ++r) {
      online_softmax_row(s + r * kBlockK, causal.visible(q0 + r, k0, nk), nkp, a.scaling, m[r],
                         l[r], o + r * dp, dp);
    }
    gemm<true>(nq, dp, nk, s, kBlockK, 1, vb, dp, o, dp);
  }
  for (int64_t r = 0; r < nq; ++r) {
    // Every row sees key 0 (Sk >= Sq), so l >= 1 after the first block: no division by zero.
    const float inv = 1.f / l[r];
    const float* orow = o + r * dp;
    T* dst = out + r * d;
#pragma omp simd
    for (int64_t i = 0; i < d; ++i)
      dst[i] = cpu::from_float<T>(orow[i] * inv);
    lse[r] = m[r] + std::log(l[r]);
  }
}

// One non-template entry per dtype: target_clones needs plain functions.
#define FUSEBOX_ATTENTION_FORWARD(T, suffix)                                             \
  FUSEBOX_CPU_MULTIVERSION void forward_block_##suffix(const ForwardArgs& a, int64_t bh, \
                                                       int64_t qb, float* scratch) {     \
    forward_block<T>(a, bh, qb, scratch);                                                \
  }
FUSEBOX_ATTENTION_FORWARD(float, f32)
FUSEBOX_ATTENTION_FORWARD(c10::BFloat16, bf16)
FUSEBOX_ATTENTION_FORWARD(c10::Half, f16)
#undef FUSEBOX_ATTENTION_FORWARD

}  // namespace

void forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scaling,
             torch::Tensor& out, torch::Tensor& lse) {
  ForwardArgs a{q.data_ptr(),
                k.data_ptr(),
                v.data_ptr(),
                out.data_ptr(),
                lse.data_ptr<float>(),
                q.size(1),
                k.size(1),
                q.size(2),
                k.size(2),
                q.size(3),
                static_cast<float>(scaling)};
  auto run = q.scalar_type() == torch::kFloat32    ? forward_block_f32
             : q.scalar_type() == torch::kBFloat16 ? forward_block_bf16
                                                   : forward_block_f16;
  const int64_t heads = q.size(0) * q.size(1);
  const int64_t q_blocks = (a.s_q + kBlockQ - 1) / kBlockQ;
  const int64_t tasks = heads * q_blocks;
  if (tasks == 0) return;
  // Tasks are taken from a shared counter, longest first (the last query blocks see the most
  // keys), so the causal triangle's uneven work spreads over the threads. Each task writes only
  // its own rows, so the result does not depend on which thread ran it.
  std::atomic<int64_t> next{0};
  const int64_t workers = std::min<int64_t>(at::get_num_threads(), tasks);
  at::parallel_for(0, workers, 1, [&](int64_t, int64_t) {
    std::vector<float> scratch(scratch_floats(a.d));
    for (int64_t t = next++; t < tasks; t = next++) {
      run(a, t % heads, q_blocks - 1 - t / heads, scratch.data());
    }
  });
}

}  // namespace fusebox::ops::attention
