// Backward of cpu_fused_attention: one task per (batch, kv head), which loops over the query
// tiles of the q heads that share the kv head (up to 4 heads x 64 queries, stacked as in the
// forward) and rebuilds each score tile from q, k and the saved log-sum-exp instead of reading
// a saved [Sq x Sk] probability matrix:
//   D_i = rowsum(dO_i * O_i)
//   P_ij = exp(Q_i K_j^T * scaling - lse_i)            (0 where masked)
//   dV_j += P_ij^T dO_i;   dP_ij = dO_i V_j^T;   dS_ij = P_ij * (dP_ij - D_i)
//   dQ_i += dS_ij K_j * scaling;   dK_j += dS_ij^T Q_i * scaling
// As in the forward, tiles are keys x queries (S^T, dP^T): K and V are read in place as GEMM
// operands, once per tile of up to 4 heads, and Q and dO are transposed once per tile; S^T is
// computed by the same call as in the forward, so P is exactly the forward's.
// dK and dV of a kv head are summed over its q heads in one task's fp32 accumulators: no
// atomics, no per-thread partials, and the same summation order on any number of threads.
// The price is parallelism: B x Hkv tasks (8 for one sequence of Qwen3-0.6B).
#include <ATen/Parallel.h>

#include <atomic>
#include <utility>

#include "ops/attention/cpu_fused_attention.h"
#include "ops/attention/cpu_fused_attention_tile.h"
#include "ops/common/cpu_math.h"

namespace fusebox::ops::attention {
namespace {

struct BackwardArgs {
  Rows q, k, v, dout;
  const void* out;  // contiguous [B, Hq, Sq, D], as the forward wrote it
  const float* lse;
  void *dq, *dk, *dv;  // contiguous
  int64_t heads_q, heads_kv, s_q, s_k, d;
  float scaling;
};

// Per-task scratch, all fp32: K in panels (dQ's GEMM operand) and the dK/dV accumulators, over
// the whole key length (linear in Sk); one query tile's (Q * scaling)^T and dO^T panels (score
// and dP GEMMs), Q and dO panels (dK and dV GEMMs), the dQ accumulator, the S^T/P^T and
// dP^T/dS^T tiles, lse and D per query column.
struct Workspace {
  int64_t dp;
  float *kp, *dk, *dv, *qt, *dot, *qp, *dop, *dq, *st, *dst, *lse, *delta;

  static int64_t floats(int64_t d, int64_t s_k) {
    const int64_t dp = round_up(d, kLanes), w = kMaxGroup * kBlockQ, ld = w + kLanes;
    return 3 * s_k * dp + 2 * d * w + 3 * w * dp + 2 * kBlockK * ld + 2 * w;
  }
  Workspace(int64_t d, int64_t s_k, float* buf) : dp(round_up(d, kLanes)) {
    const int64_t w = kMaxGroup * kBlockQ, ld = w + kLanes;
    float* next = buf;
    auto take = [&](int64_t n) { return std::exchange(next, next + n); };
    kp = take(s_k * dp), dk = take(s_k * dp), dv = take(s_k * dp);
    qt = take(d * w), dot = take(d * w);
    qp = take(w * dp), dop = take(w * dp), dq = take(w * dp);
    st = take(kBlockK * ld), dst = take(kBlockK * ld);
    lse = take(w), delta = take(w);
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

// Packs one tile's Q and dO both ways (k = d for the score and dP GEMMs, k = the stacked
// queries for dK and dV) and its per-query lse and D = rowsum(dO * O). Padded columns get
// lse = D = 0 and zero Q/dO rows: their P^T entries are finite and multiply zeros.
template <typename T>
FUSEBOX_ALWAYS_INLINE void load_query_tile(const BackwardArgs& a, Workspace& w, int64_t b,
                                           const QueryTile& t) {
  const int64_t d = a.d, wd = t.width(), nqp = t.nqp;
  for (int64_t j = 0; j < t.hp; ++j) {
    const int64_t h = t.h0 + j, row0 = (b * a.heads_q + h) * a.s_q + t.q0;
    const T* q = a.q.at<T>(b, h, t.q0);
    const T* dout = a.dout.at<T>(b, h, t.q0);
    const T* o = static_cast<const T*>(a.out) + row0 * d;
    pack_panels_transposed(q, a.q.s, t.nq, d, a.scaling, w.qt + j * nqp * d, d * kLanes);
    pack_panels_transposed(dout, a.dout.s, t.nq, d, 1.f, w.dot + j * nqp * d, d * kLanes);
    pack_panels(q, a.q.s, t.nq, nqp, d, w.qp + j * nqp * kLanes, wd * kLanes);
    pack_panels(dout, a.dout.s, t.nq, nqp, d, w.dop + j * nqp * kLanes, wd * kLanes);
    for (int64_t c = 0; c < nqp; ++c) {
      float dot = 0.f;
      if (c < t.nq) {
        const T* dorow = dout + c * a.dout.s;
#pragma omp simd reduction(+ : dot)
        for (int64_t i = 0; i < d; ++i)
          dot += cpu::to_float(dorow[i]) * cpu::to_float(o[c * d + i]);
      }
      w.delta[j * nqp + c] = dot;
      w.lse[j * nqp + c] = c < t.nq ? a.lse[row0 + c] : 0.f;
    }
  }
}

// One query tile against every visible key block of kv head g.
template <typename T>
FUSEBOX_ALWAYS_INLINE void backward_tile(const BackwardArgs& a, Workspace& w, int64_t b, int64_t g,
                                         const QueryTile& t) {
  const int64_t d = a.d, dp = w.dp, wd = t.width(), ld = t.ld(), nqp = t.nqp;
  const Causal causal{a.s_q, a.s_k};
  const T* k = a.k.at<T>(b, g, 0);
  const T* v = a.v.at<T>(b, g, 0);
  load_query_tile<T>(a, w, b, t);
  std::fill(w.dq, w.dq + wd * dp, 0.f);

  const int64_t end = causal.keys_end(t.q0, t.nq);
  for (int64_t k0 = 0; k0 < end; k0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, end - k0), shift = causal.shift(t.q0, k0);
    gemm<false>(nk, wd, d, k + k0 * a.k.s, a.k.s, 1, w.qt, d * kLanes, w.st, ld);
    gemm<false>(nk, wd, d, v + k0 * a.v.s, a.v.s, 1, w.dot, d * kLanes, w.dst, ld);
    for (int64_t r = 0; r < nk; ++r) {
      const int64_t first = r + shift;  // first query column (of each head) that sees key r
      for (int64_t j = 0; j < t.hp; ++j) {
        float* p = w.st + r * ld + j * nqp;
        float* ds = w.dst + r * ld + j * nqp;
        const float* lse = w.lse + j * nqp;
        const float* delta = w.delta + j * nqp;
#pragma omp simd
        for (int64_t c = 0; c < nqp; ++c) {
          float pc = c >= first ? cpu::exp_f32(p[c] - lse[c]) : 0.f;
          p[c] = pc;
          ds[c] = pc * (ds[c] - delta[c]);
        }
      }
    }
    // dV += P^T dO and dK += dS^T Q over the stacked queries of all heads of the tile.
    gemm<true>(nk, dp, wd, w.st, ld, 1, w.dop, wd * kLanes, w.dv + k0 * dp, dp);
    gemm<true>(nk, dp, wd, w.dst, ld, 1, w.qp, wd * kLanes, w.dk + k0 * dp, dp);
    // dQ += dS K per head, exactly nq rows.
    for (int64_t j = 0; j < t.hp; ++j) {
      gemm<true>(t.nq, dp, nk, w.dst + j * nqp, 1, ld, w.kp + k0 * kLanes, a.s_k * kLanes,
                 w.dq + j * nqp * dp, dp);
    }
  }
  for (int64_t j = 0; j < t.hp; ++j) {
    const int64_t row0 = (b * a.heads_q + t.h0 + j) * a.s_q + t.q0;
    store_rows(w.dq + j * nqp * dp, t.nq, dp, a.scaling, static_cast<T*>(a.dq) + row0 * d, d);
  }
}

template <typename T>
FUSEBOX_ALWAYS_INLINE void backward_kv_head(const BackwardArgs& a, int64_t bg, Workspace& w) {
  const int64_t d = a.d, dp = w.dp, s_k = a.s_k;
  const int64_t b = bg / a.heads_kv, g = bg % a.heads_kv, n_rep = a.heads_q / a.heads_kv;
  pack_panels(a.k.at<T>(b, g, 0), a.k.s, s_k, s_k, d, w.kp, s_k * kLanes);
  std::fill(w.dk, w.dk + s_k * dp, 0.f);
  std::fill(w.dv, w.dv + s_k * dp, 0.f);
  for (int64_t chunk = 0; chunk < group_chunks(n_rep); ++chunk) {
    for (int64_t q0 = 0; q0 < a.s_q; q0 += kBlockQ)
      backward_tile<T>(a, w, b, g, query_tile(g, n_rep, chunk, q0, a.s_q));
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
  BackwardArgs a;
  a.q = rows_of(q), a.k = rows_of(k), a.v = rows_of(v), a.dout = rows_of(dout);
  a.out = out.data_ptr(), a.lse = lse.data_ptr<float>();
  a.dq = dq.data_ptr(), a.dk = dk.data_ptr(), a.dv = dv.data_ptr();
  a.heads_q = q.size(1), a.heads_kv = k.size(1), a.s_q = q.size(2), a.s_k = k.size(2);
  a.d = q.size(3), a.scaling = static_cast<float>(scaling);
  auto run = q.scalar_type() == torch::kFloat32    ? backward_kv_head_f32
             : q.scalar_type() == torch::kBFloat16 ? backward_kv_head_bf16
                                                   : backward_kv_head_f16;
  const int64_t tasks = k.size(0) * k.size(1);
  if (tasks == 0) return;
  std::atomic<int64_t> next{0};
  const int64_t workers = std::min<int64_t>(at::get_num_threads(), tasks);
  // Workspaces are tensors so that memory accounting (the benchmark's allocator) sees them.
  const int64_t floats = Workspace::floats(a.d, a.s_k);
  auto scratch = torch::empty({workers, floats}, q.options().dtype(torch::kFloat32));
  at::parallel_for(0, workers, 1, [&](int64_t slot, int64_t) {
    Workspace w(a.d, a.s_k, scratch.data_ptr<float>() + slot * floats);
    for (int64_t t = next++; t < tasks; t = next++)
      run(a, t, w);
  });
}

}  // namespace fusebox::ops::attention
