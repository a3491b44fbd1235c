// Backward of cpu_fused_attention: one task per (batch, kv head), which loops over the q heads
// that share the kv head and their query blocks, and rebuilds each score tile from q, k and
// the saved log-sum-exp instead of reading a saved [Sq x Sk] probability matrix:
//   D_i = rowsum(dO_i * O_i)
//   P_ij = exp(Q_i K_j^T * scaling - lse_i)            (0 where masked)
//   dV_j += P_ij^T dO_i;   dP_ij = dO_i V_j^T;   dS_ij = P_ij * (dP_ij - D_i)
//   dQ_i += dS_ij K_j * scaling;   dK_j += dS_ij^T Q_i * scaling
// dK and dV of a kv head are summed over its q heads in one task's fp32 accumulators: no
// atomics, no per-thread partials, and the same summation order on any number of threads.
// The price is parallelism: B x Hkv tasks (8 for one sequence of Qwen3-0.6B).
#include <ATen/Parallel.h>

#include <atomic>
#include <utility>
#include <vector>

#include "ops/attention/cpu_fused_attention.h"
#include "ops/attention/cpu_fused_attention_tile.h"
#include "ops/common/cpu_math.h"

namespace fusebox::ops::attention {
namespace {

struct BackwardArgs {
  const void *q, *k, *v, *out, *dout;
  const float* lse;
  void *dq, *dk, *dv;
  int64_t heads_q, heads_kv, s_q, s_k, d;
  float scaling;
};

// Per-task scratch: the kv head's K^T and V^T (score and dP GEMMs), K rows (dQ GEMM) and the
// dK/dV accumulators, all over the whole key length (linear in Sk), plus one query block's
// Q, dO, dQ accumulator, P and dS tiles and D.
struct Workspace {
  int64_t d, dp, skp;
  std::vector<float> buf;
  float *kt, *vt, *kf, *dk, *dv, *qf, *dof, *dq, *p, *ds, *delta;

  Workspace(int64_t d_, int64_t s_k)
      : d(d_), dp(round_up(d_, kLanes)), skp(round_up(s_k, kBlockK)) {
    buf.resize(2 * d * skp + 3 * skp * dp + 3 * kBlockQ * dp + 2 * kBlockQ * kBlockK + kBlockQ);
    float* at = buf.data();
    auto take = [&](int64_t n) { return std::exchange(at, at + n); };
    kt = take(d * skp), vt = take(d * skp), kf = take(skp * dp), dk = take(skp * dp),
    dv = take(skp * dp);
    qf = take(kBlockQ * dp), dof = take(kBlockQ * dp), dq = take(kBlockQ * dp);
    p = take(kBlockQ * kBlockK), ds = take(kBlockQ * kBlockK), delta = take(kBlockQ);
  }
};

template <typename T>
FUSEBOX_ALWAYS_INLINE void store_rows(const float* src, int64_t rows, int64_t dp, float scale,
                                      T* dst, int64_t d) {
  for (int64_t r = 0; r < rows; ++r) {
#pragma omp simd
    for (int64_t i = 0; i < d; ++i)
      dst[r * d + i] = cpu::from_float<T>(src[r * dp + i] * scale);
  }
}

// One query block of q head `h` against every visible key block of the task's kv head.
template <typename T>
FUSEBOX_ALWAYS_INLINE void backward_query_block(const BackwardArgs& a, Workspace& w, int64_t bh,
                                                int64_t q0) {
  const int64_t d = a.d, dp = w.dp, skp = w.skp;
  const Causal causal{a.s_q, a.s_k};
  const int64_t nq = std::min(kBlockQ, a.s_q - q0), row0 = bh * a.s_q + q0;
  const T* q = static_cast<const T*>(a.q) + row0 * d;
  const T* o = static_cast<const T*>(a.out) + row0 * d;
  const T* dout = static_cast<const T*>(a.dout) + row0 * d;
  const float* lse = a.lse + row0;
  pack_rows(q, nq, d, w.qf, dp);
  pack_rows(dout, nq, d, w.dof, dp);
  for (int64_t r = 0; r < nq; ++r) {
    float dot = 0.f;
#pragma omp simd reduction(+ : dot)
    for (int64_t i = 0; i < d; ++i)
      dot += w.dof[r * dp + i] * cpu::to_float(o[r * d + i]);
    w.delta[r] = dot;
  }
  std::fill(w.dq, w.dq + nq * dp, 0.f);

  const int64_t end = causal.keys_end(q0, nq);
  for (int64_t k0 = 0; k0 < end; k0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, end - k0), nkp = round_up(nk, kLanes);
    gemm<false>(nq, nkp, d, w.qf, dp, 1, w.kt + k0, skp, w.p, kBlockK);
    gemm<false>(nq, nkp, d, w.dof, dp, 1, w.vt + k0, skp, w.ds, kBlockK);
    for (int64_t r = 0; r < nq; ++r) {
      const int64_t visible = causal.visible(q0 + r, k0, nk);
      const float lse_r = lse[r], delta_r = w.delta[r];
      float* p = w.p + r * kBlockK;
      float* ds = w.ds + r * kBlockK;
#pragma omp simd
      for (int64_t j = 0; j < nkp; ++j) {
        float pj = j < visible ? cpu::exp_f32(p[j] * a.scaling - lse_r) : 0.f;
        p[j] = pj;
        ds[j] = pj * (ds[j] - delta_r);
      }
    }
    // P^T and dS^T are the same tiles read column-wise (row stride 1, k stride kBlockK).
    gemm<true>(nk, dp, nq, w.p, 1, kBlockK, w.dof, dp, w.dv + k0 * dp, dp);
    gemm<true>(nk, dp, nq, w.ds, 1, kBlockK, w.qf, dp, w.dk + k0 * dp, dp);
    gemm<true>(nq, dp, nk, w.ds, kBlockK, 1, w.kf + k0 * dp, dp, w.dq, dp);
  }
  store_rows(w.dq, nq, dp, a.scaling, static_cast<T*>(a.dq) + row0 * d, d);
}

template <typename T>
FUSEBOX_ALWAYS_INLINE void backward_kv_head(const BackwardArgs& a, int64_t bg, Workspace& w) {
  const int64_t d = a.d, dp = w.dp, skp = w.skp, s_k = a.s_k;
  const int64_t b = bg / a.heads_kv, g = bg % a.heads_kv, n_rep = a.heads_q / a.heads_kv;
  const T* k = static_cast<const T*>(a.k) + bg * s_k * d;
  const T* v = static_cast<const T*>(a.v) + bg * s_k * d;
  pack_transposed(k, s_k, d, w.kt, skp, skp);
  pack_transposed(v, s_k, d, w.vt, skp, skp);
  pack_rows(k, s_k, d, w.kf, dp);
  std::fill(w.dk, w.dk + s_k * dp, 0.f);
  std::fill(w.dv, w.dv + s_k * dp, 0.f);
  for (int64_t h = g * n_rep; h < (g + 1) * n_rep; ++h) {
    for (int64_t q0 = 0; q0 < a.s_q; q0 += kBlockQ)
      backward_query_block<T>(a, w, b * a.heads_q + h, q0);
  }
  store_rows(w.dk, s_k, dp, a.scaling, static_cast<T*>(a.dk) + bg * s_k * d, d);
  store_rows(w.dv, s_k, dp, 1.f, static_cast<T*>(a.dv) + bg * s_k * d, d);
}

// One non-template entry per dtype: target_clones needs plain functions.
#define FUSEBOX_ATTENTION_BACKWARD(T, suffix)                                                \
  FUSEBOX_CPU_MULTIVERSION void backward_kv_head_##suffix(const BackwardArgs& a, int64_t bg, \
                                                          Workspace& w) {                    \
    backward_kv_head<T>(a, bg, w);                                                           \
  }
FUSEBOX_ATTENTION_BACKWARD(float, f32)
FUSEBOX_ATTENTION_BACKWARD(c10::BFloat16, bf16)
FUSEBOX_ATTENTION_BACKWARD(c10::Half, f16)
#undef FUSEBOX_ATTENTION_BACKWARD

}  // namespace

void backward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
              const torch::Tensor& out, const torch::Tensor& lse, const torch::Tensor& dout,
              double scaling, torch::Tensor& dq, torch::Tensor& dk, torch::Tensor& dv) {
  BackwardArgs a{q.data_ptr(),   k.data_ptr(),    v.data_ptr(),
                 out.data_ptr(), dout.data_ptr(), lse.data_ptr<float>(),
                 dq.data_ptr(),  dk.data_ptr(),   dv.data_ptr(),
                 q.size(1),      k.size(1),       q.size(2),
                 k.size(2),      q.size(3),       static_cast<float>(scaling)};
  auto run = q.scalar_type() == torch::kFloat32    ? backward_kv_head_f32
             : q.scalar_type() == torch::kBFloat16 ? backward_kv_head_bf16
                                                   : backward_kv_head_f16;
  const int64_t tasks = k.size(0) * k.size(1);
  if (tasks == 0) return;
  std::atomic<int64_t> next{0};
  const int64_t workers = std::min<int64_t>(at::get_num_threads(), tasks);
  at::parallel_for(0, workers, 1, [&](int64_t, int64_t) {
    Workspace w(a.d, a.s_k);
    for (int64_t t = next++; t < tasks; t = next++)
      run(a, t, w);
  });
}

}  // namespace fusebox::ops::attention
