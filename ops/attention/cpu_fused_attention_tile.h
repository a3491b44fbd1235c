// Building blocks shared by the forward and backward of cpu_fused_attention: block sizes, an
// fp32 GEMM micro-kernel for one tile, packing of storage-dtype rows into padded fp32 tiles, and
// the causal geometry of a block.
//
// The micro-kernel computes C[m x n] (+)= A[m x k] * B[k x n] for tiles of at most 64 x 64 x 256.
// It holds 4 rows x 16 columns of C in registers (4 zmm on AVX-512, 8 ymm on AVX2) and streams
// one 16-wide row of B per k against 4 broadcast elements of A. Measured on the Zen 4 this was
// written on, one core: 114 GFLOP/s for 64 x 64 x 128 (about the FMA peak); OpenBLAS through
// at::mm_out on the same tiles ran at 74-82 GFLOP/s with ~1-2 us of dispatch per call, and wider
// register tiles (8 x 32, 4 x 64) at 80-90 GFLOP/s because GCC spilled their accumulators.
// A is addressed through two strides, a[r * a_rs + kk * a_ks], so one buffer serves as P and as
// P^T without a transpose; B is row-major with n a multiple of 16 (callers zero-pad B's columns:
// head_dim to a multiple of 16, key blocks to 64).
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "ops/common/cpu_vector.h"

namespace fusebox::ops::attention {

// Query rows and keys per block: a 64 x 64 fp32 score tile is 16 KB, so the score, probability
// and (backward) dP tiles plus the packed K/V blocks of head_dim 128 stay within L2.
constexpr int64_t kBlockQ = 64;
constexpr int64_t kBlockK = 64;
constexpr int64_t kLanes = 16;  // columns per register tile; padded widths are multiples of it

inline int64_t round_up(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

// Causal geometry with the queries at the LAST Sq of the Sk key positions: query row i (0-based
// in the sequence of Sq) sees keys j <= i + (Sk - Sq).
struct Causal {
  int64_t s_q, s_k;
  int64_t offset() const { return s_k - s_q; }
  // Keys visible to any row of the query block starting at row q0 with nq rows: [0, end).
  int64_t keys_end(int64_t q0, int64_t nq) const { return std::min(s_k, q0 + nq + offset()); }
  // Keys of block [k0, k0 + nk) visible to query row i: a count in [0, nk].
  int64_t visible(int64_t i, int64_t k0, int64_t nk) const {
    return std::clamp<int64_t>(i + offset() + 1 - k0, 0, nk);
  }
};

// Register tile: R rows x 16 columns of C, full k. kAccumulate: C += A*B, else C = A*B.
template <int R, bool kAccumulate>
FUSEBOX_ALWAYS_INLINE void gemm_tile(const float* a, int64_t a_rs, int64_t a_ks, const float* b,
                                     int64_t ldb, float* c, int64_t ldc, int64_t k) {
  float acc[R][kLanes];
  for (int r = 0; r < R; ++r) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l)
      acc[r][l] = 0.f;
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* bk = b + kk * ldb;
    float av[R];
    for (int r = 0; r < R; ++r)
      av[r] = a[r * a_rs + kk * a_ks];
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) {
      float bv = bk[l];
      for (int r = 0; r < R; ++r)
        acc[r][l] += av[r] * bv;
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

template <int R, bool kAccumulate>
FUSEBOX_ALWAYS_INLINE void gemm_rows(const float* a, int64_t a_rs, int64_t a_ks, const float* b,
                                     int64_t ldb, float* c, int64_t ldc, int64_t n, int64_t k) {
  // Column chunks outer: the k x 16 slice of B (8 KB at k = 128) stays in L1 across rows.
  for (int64_t j = 0; j < n; j += kLanes)
    gemm_tile<R, kAccumulate>(a, a_rs, a_ks, b + j, ldb, c + j, ldc, k);
}

// C[m x n] (+)= A[m x k] * B[k x n]; n % 16 == 0. m may be anything (row tails of 1-3).
template <bool kAccumulate>
FUSEBOX_ALWAYS_INLINE void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs,
                                int64_t a_ks, const float* b, int64_t ldb, float* c, int64_t ldc) {
  int64_t r = 0;
  for (; r + 4 <= m; r += 4)
    gemm_rows<4, kAccumulate>(a + r * a_rs, a_rs, a_ks, b, ldb, c + r * ldc, ldc, n, k);
  const float* at = a + r * a_rs;
  float* ct = c + r * ldc;
  switch (m - r) {
    case 3:
      return gemm_rows<3, kAccumulate>(at, a_rs, a_ks, b, ldb, ct, ldc, n, k);
    case 2:
      return gemm_rows<2, kAccumulate>(at, a_rs, a_ks, b, ldb, ct, ldc, n, k);
    case 1:
      return gemm_rows<1, kAccumulate>(at, a_rs, a_ks, b, ldb, ct, ldc, n, k);
    default:
      return;
  }
}

// rows x d storage-dtype rows (row stride d) -> fp32 rows of stride ld >= d, columns [d, ld)
// zeroed so that padded GEMM columns compute zeros.
template <typename T>
FUSEBOX_ALWAYS_INLINE void pack_rows(const T* src, int64_t rows, int64_t d, float* dst,
                                     int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* s = src + r * d;
    float* o = dst + r * ld;
#pragma omp simd
    for (int64_t i = 0; i < d; ++i)
      o[i] = cpu::to_float(s[i]);
    for (int64_t i = d; i < ld; ++i)
      o[i] = 0.f;
  }
}

// rows x d storage-dtype rows -> fp32 transpose [d x ld] (column r = source row r); columns
// [rows, cols_zeroed) are zeroed so that a padded key block scores 0, never garbage.
template <typename T>
FUSEBOX_ALWAYS_INLINE void pack_transposed(const T* src, int64_t rows, int64_t d, float* dst,
                                           int64_t ld, int64_t cols_zeroed) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* s = src + r * d;
    for (int64_t i = 0; i < d; ++i)
      dst[i * ld + r] = cpu::to_float(s[i]);
  }
  for (int64_t i = 0; i < d; ++i)
    for (int64_t r = rows; r < cols_zeroed; ++r)
      dst[i * ld + r] = 0.f;
}

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

}  // namespace fusebox::ops::attention
