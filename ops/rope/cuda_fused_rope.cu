// cuda_fused_rope: rotary position embedding of q and k in one launch, forward and backward,
// with no cos/sin tensors and no rotate_half temporaries.
//
// Per row x of head_dim D = 2 * half (one batch, head, position p), with angle
// a_i = float(p) * inv_freq[i], c = round_T(cos(a_i)) and s = round_T(sin(a_i)):
//   y[i]        = round_T(round_T(x[i] * c)        - round_T(x[i + half] * s))
//   y[i + half] = round_T(round_T(x[i + half] * c) + round_T(x[i] * s))
// That is the reference's q * cos + rotate_half(q) * sin with its two products and its sum
// each rounded to the storage dtype T, and cos/sin computed the way the reference computes
// them on the GPU (the fp32 product position x inv_freq, then cosf/sinf, then the cast), from
// the layer's own inv_freq tensor: bf16/fp16 results are the reference's bit for bit, and so
// are fp32 ones (explicit __fmul_rn keeps nvcc from fusing a product into the sum).
// The backward is the same pass with s negated: the inverse rotation of the incoming
// gradient, rounded as autograd rounds the reference's two gradient terms and their sum.
//
// Work split: a block takes P consecutive (batch, position) pairs and computes their cos/sin
// once into shared memory (P x half values each, fp32), then rotates every head of q and of k
// at those positions: each thread takes a 16-byte vector of the first half of a row and the
// matching vector of the second half. Positions, heads and vectors are flattened so that a
// block has ~256 busy threads whatever the head count and head_dim. Nothing is saved for
// backward but positions and inv_freq (by the torch wrapper); no host synchronisation, so
// positions need no range check: any int64 is converted to fp32 as the reference does.
// Layout: q [B, Hq, S, D] and k [B, Hk, S, D] with any batch/head/position strides and a
// unit-stride last dimension, written to destinations with their own strides. 16-byte vectors
// when half, every stride and every base pointer allow them, else element by element.
// Dtypes: fp32, bf16, fp16 (q and k of one dtype).
#include <algorithm>
#include <limits>
#include <string>

#include "ops/common/cuda_common.cuh"
#include "ops/rope/cuda_fused_rope.h"

namespace fusebox::ops::cuda {
namespace {

constexpr int kTargetThreads = 256;
constexpr int kMaxThreads = 1024;
// The per-block cos/sin table for P = 1 is 2 x half floats: 16 KB at head_dim 4096.
constexpr int64_t kMaxHeadDim = 4096;

struct RopeParams {
  RopeOperand q, k;
  int64_t batch_positions;  // batch x seq
  int64_t seq;
  int half;
  int per_block;  // P
  const int64_t* pos;
  int64_t pos_stride_b, pos_stride_s;
  const float* inv_freq;
  float sign;  // +1 forward, -1 backward
};

template <typename T>
struct RowPtrs {
  const T* src;
  T* dst;
};

template <typename T>
__device__ __forceinline__ RowPtrs<T> locate(const RopeOperand& o, int64_t b, int64_t h,
                                             int64_t s) {
  return {
      static_cast<const T*>(o.src) + b * o.src_stride_b + h * o.src_stride_h + s * o.src_stride_s,
      static_cast<T*>(o.dst) + b * o.dst_stride_b + h * o.dst_stride_h + s * o.dst_stride_s};
}

// Writes the rotation of one vector pair (x1 from the first half of a row, x2 from the
// second) with the table entries c, s of its position.
template <typename T, int V>
__device__ __forceinline__ void rotate_store(T* dst1, T* dst2, const Pack<T, V>& x1,
                                             const Pack<T, V>& x2, const float* c, const float* s) {
  Pack<T, V> y1, y2;
#pragma unroll
  for (int e = 0; e < V; ++e) {
    const float a = to_float(x1.v[e]), b = to_float(x2.v[e]);
    y1.v[e] = from_float<T>(round_to<T>(__fmul_rn(a, c[e])) - round_to<T>(__fmul_rn(b, s[e])));
    y2.v[e] = from_float<T>(round_to<T>(__fmul_rn(b, c[e])) + round_to<T>(__fmul_rn(a, s[e])));
  }
  store_pack<T, V>(dst1, y1);
  store_pack<T, V>(dst2, y2);
}

template <typename T, int V>
__global__ void __launch_bounds__(kMaxThreads) rope_kernel(const RopeParams p) {
  // [P][half] cos, then [P][half] sin, then the P (batch, position) pairs.
  extern __shared__ float table[];
  const int half = p.half, per_block = p.per_block;
  float* cos_t = table;
  float* sin_t = table + per_block * half;
  int64_t* where = reinterpret_cast<int64_t*>(sin_t + per_block * half);  // b, s pairs
  const int64_t first = int64_t{blockIdx.x} * per_block;
  const int vecs = half / V;
  const int q_heads = static_cast<int>(p.q.heads);
  const int items = (q_heads + static_cast<int>(p.k.heads)) * vecs;  // per position

  // Item w: position pl of the block, head (q's, then k's), vector j of the first half.
  auto locate_item = [&](int w, int64_t b, int64_t si, int* pl, int* j) {
    *pl = w / items;
    const int rem = w - *pl * items, head = rem / vecs;
    *j = rem - head * vecs;
    return head < q_heads ? locate<T>(p.q, b, head, si) : locate<T>(p.k, b, head - q_heads, si);
  };

  // The first item's loads are issued before the table is built, so that their latency
  // overlaps the position load and cosf/sinf. With the usual shapes (P x items <= threads)
  // it is the only item a thread has.
  const int w0 = threadIdx.x;
  const bool has_first = w0 < per_block * items && first + w0 / items < p.batch_positions;
  Pack<T, V> f1, f2;
  RowPtrs<T> frow{};
  int fpl = 0, fj = 0;
  if (has_first) {
    const int64_t lin = first + w0 / items, b = lin / p.seq;
    frow = locate_item(w0, b, lin - b * p.seq, &fpl, &fj);
    f1 = load_pack<T, V>(frow.src + fj * V);
    f2 = load_pack<T, V>(frow.src + half + fj * V);
  }

  for (int j = threadIdx.x; j < per_block * half; j += blockDim.x) {
    const int pl = j / half, i = j - pl * half;
    const int64_t lin = first + pl;
    float c = 0.f, s = 0.f;
    if (lin < p.batch_positions) {
      const int64_t b = lin / p.seq, si = lin - b * p.seq;
      if (i == 0) {
        where[2 * pl] = b;
        where[2 * pl + 1] = si;
      }
      const float position = static_cast<float>(p.pos[b * p.pos_stride_b + si * p.pos_stride_s]);
      const float angle = __fmul_rn(position, p.inv_freq[i]);
      c = round_to<T>(cosf(angle));
      s = p.sign * round_to<T>(sinf(angle));
    }
    cos_t[j] = c;
    sin_t[j] = s;
  }
  __syncthreads();

  if (has_first) {
    const int t = fpl * half + fj * V;
    rotate_store<T, V>(frow.dst + fj * V, frow.dst + half + fj * V, f1, f2, cos_t + t, sin_t + t);
  }
  for (int w = w0 + blockDim.x; w < per_block * items; w += blockDim.x) {
    const int wpl = w / items;
    if (first + wpl >= p.batch_positions) break;  // the position only grows with w
    int pl, j;
    const RowPtrs<T> row = locate_item(w, where[2 * wpl], where[2 * wpl + 1], &pl, &j);
    const Pack<T, V> x1 = load_pack<T, V>(row.src + j * V);
    const Pack<T, V> x2 = load_pack<T, V>(row.src + half + j * V);
    const int t = pl * half + j * V;
    rotate_store<T, V>(row.dst + j * V, row.dst + half + j * V, x1, x2, cos_t + t, sin_t + t);
  }
}

bool vectorisable(const RopeOperand& o, int v) {
  if (o.heads == 0) return true;
  for (int64_t stride : {o.src_stride_b, o.src_stride_h, o.src_stride_s, o.dst_stride_b,
                         o.dst_stride_h, o.dst_stride_s})
    if (stride % v != 0) return false;
  return is_aligned(o.src, 16) && is_aligned(o.dst, 16);
}

}  // namespace

void rope_rotate(const RopeOperand& q, const RopeOperand& k, int64_t batch, int64_t seq,
                 int64_t head_dim, const int64_t* positions, int64_t pos_stride_b,
                 int64_t pos_stride_s, const float* inv_freq, bool inverse, DType dtype,
                 cudaStream_t stream) {
  if (head_dim % 2 != 0 || head_dim > kMaxHeadDim) {
    throw std::invalid_argument("cuda_fused_rope: expected an even head_dim <= " +
                                std::to_string(kMaxHeadDim) + ", got " + std::to_string(head_dim));
  }
  const int64_t batch_positions = batch * seq, heads = q.heads + k.heads;
  if (batch_positions == 0 || heads == 0 || head_dim == 0) return;
  if (heads * head_dim > std::numeric_limits<int>::max() / 2)
    throw std::invalid_argument("cuda_fused_rope: too many heads for one launch");
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVec16<T>;
    const int64_t half = head_dim / 2;
    const int v = half % V == 0 && vectorisable(q, V) && vectorisable(k, V) ? V : 1;
    const int64_t items = heads * (half / v);
    const int64_t per_block =
        std::min(batch_positions, std::max<int64_t>(1, kTargetThreads / items));
    const int64_t threads = std::min<int64_t>(kMaxThreads, ceil_div(per_block * items, 32) * 32);
    const std::size_t smem = per_block * (2 * half * sizeof(float) + 2 * sizeof(int64_t));
    const int64_t grid = ceil_div(batch_positions, per_block);
    if (grid > std::numeric_limits<int>::max())
      throw std::invalid_argument("cuda_fused_rope: too many positions for one launch");

    RopeParams p;
    p.q = q;
    p.k = k;
    p.batch_positions = batch_positions;
    p.seq = seq;
    p.half = static_cast<int>(half);
    p.per_block = static_cast<int>(per_block);
    p.pos = positions;
    p.pos_stride_b = pos_stride_b;
    p.pos_stride_s = pos_stride_s;
    p.inv_freq = inv_freq;
    p.sign = inverse ? -1.f : 1.f;
    if (v == 1) {
      rope_kernel<T, 1>
          <<<static_cast<unsigned int>(grid), static_cast<unsigned int>(threads), smem, stream>>>(
              p);
    } else {
      rope_kernel<T, V>
          <<<static_cast<unsigned int>(grid), static_cast<unsigned int>(threads), smem, stream>>>(
              p);
    }
    FUSEBOX_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace fusebox::ops::cuda
