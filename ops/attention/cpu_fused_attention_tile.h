// Building blocks shared by the forward and backward of cpu_fused_attention: block sizes, the
// causal geometry of a tile, an fp32 GEMM micro-kernel, and packing of storage-dtype rows into
// its fp32 operand layout.
//
// The micro-kernel computes C[m x n] (+)= A[m x k] * B[k x n] for tiles of at most 256 x 256 x
// 256. It holds 8 rows x 16 columns of C in registers and streams one 16-wide row of B per k
// against 8 broadcast elements of A. A is addressed through two strides,
// a[r * a_rs + kk * a_ks], so one buffer serves as P and as P^T, and K and V rows are read in
// place in their storage dtype; each 8-row strip of A is copied to fp32 once per GEMM (see
// pack_strip). B is packed in 16-column panels: panel p holds columns 16p..16p+15 as a
// contiguous [k x 16] block, `panel` floats apart. With B as plain rows (a power-of-two row
// stride of 256-512 bytes) the k loop touched 64-128 lines that fell into 8-16 of L1's 64 sets
// and evicted each other; contiguous panels stream.
// Measured on the Zen 4 this was written on, one core, 64 x 64 x 128: 110-115 GFLOP/s with hot
// operands (about the FMA peak); OpenBLAS through at::mm_out on the same tiles 74-82 GFLOP/s
// (~1-2 us of dispatch per call); register tiles of 8 x 32 or 4 x 64 80-90 GFLOP/s (GCC spilled
// their accumulators).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "ops/common/cpu_vector.h"

namespace fusebox::ops::attention {

// Queries and keys per block: a 64 x 64 fp32 tile is 16 KB.
constexpr int64_t kBlockQ = 64;
constexpr int64_t kBlockK = 64;
constexpr int64_t kLanes = 16;  // columns per register tile and per B panel
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline int64_t round_up(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

// Causal geometry with the queries at the LAST Sq of the Sk key positions: query i (0-based in
// the Sq) sees keys j <= i + (Sk - Sq).
struct Causal {
  int64_t s_q, s_k;
  int64_t offset() const { return s_k - s_q; }
  // Keys visible to any of the nq queries from q0: [0, end). Key blocks past it are skipped.
  int64_t keys_end(int64_t q0, int64_t nq) const { return std::min(s_k, q0 + nq + offset()); }
  // In a tile of queries from q0 (columns) and keys from k0 (rows), key row r is visible to
  // query column c iff c >= r + shift(q0, k0).
  int64_t shift(int64_t q0, int64_t k0) const { return k0 - offset() - q0; }
};

// The queries of one task: hp q heads h0.. that share a kv head, nq queries from q0 each. Their
// columns are stacked -- head j's query c is column j * nqp + c, nqp = nq padded to 16 -- so
// one GEMM against a key block serves all hp heads: GQA reads each K and V block once per tile
// instead of once per q head.
constexpr int64_t kMaxGroup = 4;  // heads per tile: at most 256 columns
struct QueryTile {
  int64_t h0, hp, q0, nq, nqp;
  int64_t width() const { return hp * nqp; }
  // Row stride of the [keys x width] score tiles: off a power of two (see the header comment).
  int64_t ld() const { return width() + kLanes; }
};

inline int64_t group_chunks(int64_t n_rep) {
  return (n_rep + kMaxGroup - 1) / kMaxGroup;
}
inline QueryTile query_tile(int64_t g, int64_t n_rep, int64_t chunk, int64_t q0, int64_t s_q) {
  int64_t nq = std::min(kBlockQ, s_q - q0);
  return {g * n_rep + chunk * kMaxGroup, std::min(kMaxGroup, n_rep - chunk * kMaxGroup), q0, nq,
          round_up(nq, kLanes)};
}

constexpr int kStrip = 8;        // rows of C per register tile
constexpr int64_t kDepth = 512;  // k per packed A strip; longer products are split

// Register tile: R rows x 16 columns of C over depth k. A is a packed strip (element (r, kk) at
// a[kk * kStrip + r]: one pointer, constant offsets), B one panel. kAccumulate: C += A*B, else
// C = A*B.
template <int R, bool kAccumulate>
FUSEBOX_ALWAYS_INLINE void gemm_tile(const float* a, const float* b, float* c, int64_t ldc,
                                     int64_t k) {
  float acc[R][kLanes];
  for (int r = 0; r < R; ++r) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l)
      acc[r][l] = 0.f;
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* bk = b + kk * kLanes;
    const float* ak = a + kk * kStrip;
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) {
      float bv = bk[l];
      for (int r = 0; r < R; ++r)
        acc[r][l] += ak[r] * bv;
    }
  }
  for (int r = 0; r < R; ++r) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) {
      if (kAccumulate)
        c[r * ldc + l] += acc[r][l];
      else
        c[r * ldc + l] = acc[r][l];
    }
  }
}

// Copies rows [0, R) x depth [0, k) of A into a strip, converting to fp32 once (instead of
// once per B panel). With A read in place, 8 rows far apart needed 8 live row pointers: GCC
// spilled them to vector registers and the stack, and the FMA loop ran ~30% slower.
template <int R, typename TA>
FUSEBOX_ALWAYS_INLINE void pack_strip(const TA* a, int64_t a_rs, int64_t a_ks, int64_t k,
                                      float* strip) {
  for (int r = 0; r < R; ++r) {
    const TA* row = a + r * a_rs;
    for (int64_t kk = 0; kk < k; ++kk)
      strip[kk * kStrip + r] = cpu::to_float(row[kk * a_ks]);
  }
}

template <int R, bool kAccumulate, typename TA>
FUSEBOX_ALWAYS_INLINE void gemm_strip(const TA* a, int64_t a_rs, int64_t a_ks, const float* b,
                                      int64_t panel, float* c, int64_t ldc, int64_t n, int64_t k) {
  alignas(64) float strip[kDepth * kStrip];
  pack_strip<R>(a, a_rs, a_ks, k, strip);
  // Panels outer: one panel (k x 16 floats, 8 KB at k = 128) stays in L1 across the strip.
  for (int64_t j = 0; j < n; j += kLanes)
    gemm_tile<R, kAccumulate>(strip, b + j / kLanes * panel, c + j, ldc, k);
}

template <bool kAccumulate, typename TA>
FUSEBOX_ALWAYS_INLINE void gemm_depth(int64_t m, int64_t n, int64_t k, const TA* a, int64_t a_rs,
                                      int64_t a_ks, const float* b, int64_t panel, float* c,
                                      int64_t ldc) {
  int64_t r = 0;
  for (; r + kStrip <= m; r += kStrip)
    gemm_strip<kStrip, kAccumulate>(a + r * a_rs, a_rs, a_ks, b, panel, c + r * ldc, ldc, n, k);
  const TA* at = a + r * a_rs;
  float* ct = c + r * ldc;
  switch (m - r) {
#define FUSEBOX_GEMM_TAIL(R) \
  case R:                    \
    return gemm_strip<R, kAccumulate>(at, a_rs, a_ks, b, panel, ct, ldc, n, k);
    FUSEBOX_GEMM_TAIL(7)
    FUSEBOX_GEMM_TAIL(6)
    FUSEBOX_GEMM_TAIL(5)
    FUSEBOX_GEMM_TAIL(4)
    FUSEBOX_GEMM_TAIL(3)
    FUSEBOX_GEMM_TAIL(2)
    FUSEBOX_GEMM_TAIL(1)
#undef FUSEBOX_GEMM_TAIL
    default:
      return;
  }
}

// C[m x n] (+)= A[m x k] * B[k x n]. A's element (r, kk) is a[r * a_rs + kk * a_ks], in any
// dtype (K and V rows are read in their storage dtype); B is fp32 in 16-column panels `panel`
// floats apart, n % 16 == 0; C is row-major fp32.
template <bool kAccumulate, typename TA>
FUSEBOX_ALWAYS_INLINE void gemm(int64_t m, int64_t n, int64_t k, const TA* a, int64_t a_rs,
                                int64_t a_ks, const float* b, int64_t panel, float* c,
                                int64_t ldc) {
  for (int64_t k0 = 0; k0 < k || k0 == 0; k0 += kDepth) {
    const int64_t kd = std::min(kDepth, k - k0);
    if (k0 == 0)
      gemm_depth<kAccumulate>(m, n, kd, a, a_rs, a_ks, b, panel, c, ldc);
    else
      gemm_depth<true>(m, n, kd, a + k0 * a_ks, a_rs, a_ks, b + k0 * kLanes, panel, c, ldc);
  }
}

// A [B, H, S, D] tensor's rows: element strides over batch, head and position, unit stride
// over D. The model's q, k, v are transposed views of [B, S, H, D]; they are read in place.
struct Rows {
  const void* data;
  int64_t b, h, s;
  template <typename T>
  const T* at(int64_t bi, int64_t hi, int64_t si) const {
    return static_cast<const T*>(data) + bi * b + hi * h + si * s;
  }
};

inline Rows rows_of(const at::Tensor& t) {
  return {t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)};
}

// B = rows x d storage-dtype rows (k = rows, n = d padded to 16) -> panels `panel` floats
// apart; rows [rows, rows_padded) and columns [d, 16 * panels) are zeroed.
template <typename T>
FUSEBOX_ALWAYS_INLINE void pack_panels(const T* src, int64_t src_ld, int64_t rows,
                                       int64_t rows_padded, int64_t d, float* dst, int64_t panel) {
  for (int64_t p = 0; p * kLanes < d; ++p) {
    const int64_t i0 = p * kLanes, width = std::min(kLanes, d - i0);
    float* out = dst + p * panel;
    for (int64_t r = 0; r < rows; ++r) {
      const T* in = src + r * src_ld + i0;
      float* o = out + r * kLanes;
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l)
        o[l] = l < width ? cpu::to_float(in[l]) : 0.f;
    }
    std::fill(out + rows * kLanes, out + rows_padded * kLanes, 0.f);
  }
}

// B = (scale * rows)^T, k = d and n = rows padded to 16 -> panels `panel` floats apart;
// columns [rows, round_up(rows, 16)) are zeroed.
template <typename T>
FUSEBOX_ALWAYS_INLINE void pack_panels_transposed(const T* src, int64_t src_ld, int64_t rows,
                                                  int64_t d, float scale, float* dst,
                                                  int64_t panel) {
  for (int64_t p = 0; p * kLanes < rows; ++p) {
    const int64_t r0 = p * kLanes, width = std::min(kLanes, rows - r0);
    float* out = dst + p * panel;
    for (int64_t l = 0; l < width; ++l) {
      const T* in = src + (r0 + l) * src_ld;
      for (int64_t i = 0; i < d; ++i)
        out[i * kLanes + l] = cpu::to_float(in[i]) * scale;
    }
    for (int64_t l = width; l < kLanes; ++l) {
      for (int64_t i = 0; i < d; ++i)
        out[i * kLanes + l] = 0.f;
    }
  }
}

}  // namespace fusebox::ops::attention
