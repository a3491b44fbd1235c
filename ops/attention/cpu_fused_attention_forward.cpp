// Forward of cpu_fused_attention: one task per (batch, kv head, up to 4 of its q heads, block of
// 64 queries) -- a QueryTile (cpu_fused_attention_tile.h).
//
// Per task, with Q the tile's queries, m/l the running max and sum per query and O the fp32
// accumulator, for each key block K_j, V_j at or left of the diagonal:
//   S^T = K_j (Q * scaling)^T               (masked: key > query + Sk - Sq)
//   m' = max(m, colmax S^T);  P^T = exp(S^T - m');  l = l * exp(m - m') + colsum P^T
//   O = O * exp(m - m') + P V_j;  m = m'
// then out = O / l and lse = m + log l, the one number per query the backward needs to rebuild P.
// The tile is computed transposed (keys x queries) so that K is the GEMM's broadcast operand,
// read in place in its storage dtype, and only the query block is transposed, once per task
// rather than once per key block; the softmax then runs down columns, 16 queries per vector.
// A q head reads its kv head h / (Hq / Hkv) in place: kv heads are never repeated, and the
// q heads of a tile share each K/V block.
#include <ATen/Parallel.h>

#include <atomic>
#include <cmath>

#include "ops/attention/cpu_fused_attention.h"
#include "ops/attention/cpu_fused_attention_tile.h"
#include "ops/common/cpu_math.h"

namespace fusebox::ops::attention {
namespace {

struct ForwardArgs {
  Rows q, k, v;
  void* out;  // contiguous [B, Hq, Sq, D]
  float* lse;
  int64_t heads_q, heads_kv, s_q, s_k, d;
  float scaling;
};

// Floats of per-thread scratch: Q^T panels, V block panels, the score tile, the O accumulator,
// and m, l, alpha and the block's column sums per query column.
int64_t scratch_floats(int64_t d) {
  const int64_t dp = round_up(d, kLanes), w = kMaxGroup * kBlockQ;
  return d * w + kBlockK * dp + kBlockK * (w + kLanes) + w * dp + 4 * w;
}

// The tile st [nk x width] of scaled scores becomes P^T against the updated running max m of
// each query column; alpha receives exp(m_old - m_new), the factor for O's rows.
FUSEBOX_ALWAYS_INLINE void online_softmax_columns(const QueryTile& t, float* st, int64_t nk,
                                                  int64_t shift, float* m, float* l, float* alpha,
                                                  float* col_sum) {
  const int64_t w = t.width(), ld = t.ld(), nqp = t.nqp;
  float* col_max = alpha;  // alpha is made from the column maxima: they share the buffer
  std::fill(col_max, col_max + w, kNegInf);
  for (int64_t r = 0; r < nk; ++r) {
    const int64_t first = r + shift;  // first query column (of each head) that sees key r
    for (int64_t j = 0; j < t.hp; ++j) {
      const float* row = st + r * ld + j * nqp;
      float* mx = col_max + j * nqp;
#pragma omp simd
      for (int64_t c = 0; c < nqp; ++c)
        mx[c] = std::max(mx[c], c >= first ? row[c] : kNegInf);
    }
  }
#pragma omp simd
  for (int64_t c = 0; c < w; ++c) {
    float m_new = std::max(m[c], col_max[c]);
    // m = -inf: nothing accumulated yet (first block, or no visible key so far) -> factor 0.
    alpha[c] = m[c] == kNegInf ? 0.f : cpu::exp_f32(m[c] - m_new);
    m[c] = m_new;
    col_sum[c] = 0.f;
  }
  for (int64_t r = 0; r < nk; ++r) {
    const int64_t first = r + shift;
    for (int64_t j = 0; j < t.hp; ++j) {
      float* row = st + r * ld + j * nqp;
      const float* mj = m + j * nqp;
      float* sum = col_sum + j * nqp;
#pragma omp simd
      for (int64_t c = 0; c < nqp; ++c) {
        float p = c >= first ? cpu::exp_f32(row[c] - mj[c]) : 0.f;
        row[c] = p;
        sum[c] += p;
      }
    }
  }
#pragma omp simd
  for (int64_t c = 0; c < w; ++c)
    l[c] = l[c] * alpha[c] + col_sum[c];
}

template <typename T>
FUSEBOX_ALWAYS_INLINE void forward_tile(const ForwardArgs& a, int64_t b, int64_t g,
                                        const QueryTile& t, float* scratch) {
  const int64_t d = a.d, dp = round_up(d, kLanes), w = t.width(), ld = t.ld(), nqp = t.nqp;
  const Causal causal{a.s_q, a.s_k};
  const T* k = a.k.at<T>(b, g, 0);
  const T* v = a.v.at<T>(b, g, 0);

  float* qt = scratch;            // (Q * scaling)^T: [d x w] in panels of d x 16
  float* vp = qt + d * w;         // a V block: [kBlockK x dp] in panels of kBlockK x 16
  float* st = vp + kBlockK * dp;  // [kBlockK x ld]: S^T, then P^T
  float* o = st + kBlockK * ld;   // [w x dp]
  float* m = o + w * dp;
  float* l = m + w;
  float* alpha = l + w;
  float* col_sum = alpha + w;
  for (int64_t j = 0; j < t.hp; ++j) {
    pack_panels_transposed(a.q.at<T>(b, t.h0 + j, t.q0), a.q.s, t.nq, d, a.scaling,
                           qt + j * nqp * d, d * kLanes);
  }
  std::fill(o, o + w * dp, 0.f);
  std::fill(m, m + w, kNegInf);
  std::fill(l, l + w, 0.f);

  // Blocks right of keys_end are above the diagonal for every query of the tile: skipped.
  const int64_t end = causal.keys_end(t.q0, t.nq);
  for (int64_t k0 = 0; k0 < end; k0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, end - k0);
    gemm<false>(nk, w, d, k + k0 * a.k.s, a.k.s, 1, qt, d * kLanes, st, ld);
    online_softmax_columns(t, st, nk, causal.shift(t.q0, k0), m, l, alpha, col_sum);
    for (int64_t c = 0; c < w; ++c) {
      if (alpha[c] == 1.f) continue;
      float* orow = o + c * dp;
#pragma omp simd
      for (int64_t i = 0; i < dp; ++i)
        orow[i] *= alpha[c];
    }
    pack_panels(v + k0 * a.v.s, a.v.s, nk, nk, d, vp, kBlockK * kLanes);
    // Per head, P = (P^T)^T (row stride 1, k stride ld), exactly nq rows: a decoding step
    // (nq = 1) computes one row, not 16.
    for (int64_t j = 0; j < t.hp; ++j)
      gemm<true>(t.nq, dp, nk, st + j * nqp, 1, ld, vp, kBlockK * kLanes, o + j * nqp * dp, dp);
  }
  for (int64_t j = 0; j < t.hp; ++j) {
    const int64_t row0 = (b * a.heads_q + t.h0 + j) * a.s_q + t.q0;
    for (int64_t c = 0; c < t.nq; ++c) {
      const int64_t col = j * nqp + c;
      // Every query sees key 0 (Sk >= Sq), so l >= 1 after the first block: no division by 0.
      const float inv = 1.f / l[col];
      const float* orow = o + col * dp;
      T* dst = static_cast<T*>(a.out) + (row0 + c) * d;
#pragma omp simd
      for (int64_t i = 0; i < d; ++i)
        dst[i] = cpu::from_float<T>(orow[i] * inv);
      a.lse[row0 + c] = m[col] + std::log(l[col]);
    }
  }
}

// One non-template entry per dtype: target_clones needs plain functions.
#define FUSEBOX_ATTENTION_FORWARD(T, suffix)                                                      \
  FUSEBOX_CPU_MULTIVERSION void forward_tile_##suffix(const ForwardArgs& a, int64_t b, int64_t g, \
                                                      const QueryTile& t, float* scratch) {       \
    forward_tile<T>(a, b, g, t, scratch);                                                         \
  }
FUSEBOX_ATTENTION_FORWARD(float, f32)
FUSEBOX_ATTENTION_FORWARD(c10::BFloat16, bf16)
FUSEBOX_ATTENTION_FORWARD(c10::Half, f16)
#undef FUSEBOX_ATTENTION_FORWARD

}  // namespace

void forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scaling,
             torch::Tensor& out, torch::Tensor& lse) {
  ForwardArgs a;
  a.q = rows_of(q), a.k = rows_of(k), a.v = rows_of(v);
  a.out = out.data_ptr(), a.lse = lse.data_ptr<float>();
  a.heads_q = q.size(1), a.heads_kv = k.size(1), a.s_q = q.size(2), a.s_k = k.size(2);
  a.d = q.size(3), a.scaling = static_cast<float>(scaling);
  auto run = q.scalar_type() == torch::kFloat32    ? forward_tile_f32
             : q.scalar_type() == torch::kBFloat16 ? forward_tile_bf16
                                                   : forward_tile_f16;
  const int64_t n_rep = a.heads_q / a.heads_kv, chunks = group_chunks(n_rep);
  const int64_t groups = q.size(0) * a.heads_kv * chunks;
  const int64_t q_blocks = (a.s_q + kBlockQ - 1) / kBlockQ;
  const int64_t tasks = groups * q_blocks;
  if (tasks == 0) return;
  // Tasks are taken from a shared counter, so the causal triangle's uneven work spreads over
  // the threads; the query blocks of one head group are consecutive (the threads share its K
  // and V in cache), last block (most keys) first. Each task writes only its own rows, so the
  // result does not depend on which thread ran it.
  std::atomic<int64_t> next{0};
  const int64_t workers = std::min<int64_t>(at::get_num_threads(), tasks);
  // One scratch row per worker (chunks of parallel_for are disjoint, so `slot` is unique); a
  // tensor so that memory accounting (the benchmark's allocator) sees it.
  const int64_t floats = scratch_floats(a.d);
  auto scratch = torch::empty({workers, floats}, q.options().dtype(torch::kFloat32));
  at::parallel_for(0, workers, 1, [&](int64_t slot, int64_t) {
    float* mine = scratch.data_ptr<float>() + slot * floats;
    for (int64_t t = next++; t < tasks; t = next++) {
      const int64_t group = t / q_blocks, qb = q_blocks - 1 - t % q_blocks;
      const int64_t chunk = group % chunks, bg = group / chunks;
      const int64_t b = bg / a.heads_kv, g = bg % a.heads_kv;
      run(a, b, g, query_tile(g, n_rep, chunk, qb * kBlockQ, a.s_q), mine);
    }
  });
}

}  // namespace fusebox::ops::attention
