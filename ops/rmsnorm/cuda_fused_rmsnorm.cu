// cuda_fused_rmsnorm: RMSNorm forward and backward on CUDA, one pass over each row per
// direction, fp32 math whatever the storage dtype T.
//
// Forward, per row of H elements:
//   r = rsqrt(sum(x^2) / H + eps);  n = round_T(x * r);  y = round_T(n * w)
// The two roundings are transformers' `weight * (x * rsqrt(var + eps)).to(dtype)`; in fp32
// they are no-ops. Saved for backward (by the torch wrapper): x, w and r (fp32, one per row).
// Backward, with g = dy * w and n = x * r:
//   dx = r * (g - n * sum(g * n) / H);  dw = sum over rows of dy * round_T(n)
// dw without atomics: each thread sums its own columns over the rows its block visits, in
// registers; the block folds its rows into one fp32 partial row of the workspace; a second
// kernel sums the partial rows of each column and rounds once to T.
//
// Layout: contiguous [rows, H]. A row is spread over `tx` threads (a power of two) and a
// 256-thread block takes 256 / tx rows, so short rows (per-head q_norm/k_norm, H = 128) do not
// leave most of a block idle. Each thread keeps its vectors of 16 bytes (8 bf16/fp16 or 4 fp32
// values) of x (and dy) in registers, so they are read from memory exactly once. Rows whose
// length is not a multiple of the vector or whose buffers are not 16-byte aligned use
// 1-element vectors; rows longer than the registers hold (4 x 256 vectors forward, 2 x 256
// backward) are read twice, the second time mostly from L2. Dtypes: fp32, bf16, fp16 (x, w,
// y of one dtype).
#include <algorithm>
#include <initializer_list>
#include <limits>

#include "ops/common/cuda_common.cuh"
#include "ops/rmsnorm/cuda_fused_rmsnorm.h"

namespace fusebox::ops::cuda {
namespace {

constexpr int kBlockThreads = 256;
// Resident blocks per SM the kernels are compiled for (registers <= 64K / (256 x this)).
// Forward: 4 (1024 threads, <= 64 registers, enough 16-byte loads in flight to stream at
// memory bandwidth). Backward: 3 (<= 80 registers; its bf16 instance spills at 64), and its
// grid is exactly that many blocks per SM, each looping over rows and writing one partial dw
// row (132 SMs x 3 x H floats = 1.6 MB at H = 1024).
constexpr int kForwardBlocksPerSM = 4;
constexpr int kBackwardBlocksPerSM = 3;
// Vectors of a row each thread keeps in registers across the row's reduction: 4 of x in the
// forward, 2 of x and dy in the backward (with 4 its bf16 instance needs ~200 registers).
constexpr int kForwardVecs = 4;
constexpr int kBackwardVecs = 2;
// row_sum's scratch: when a row spans more than one warp, at most 4 rows per block (tx >= 64)
// of at most 32 warp sums each.
constexpr int kRowSumScratch = 4 * 32;

struct RowLayout {
  int vec;            // elements per access
  int tx, ry;         // threads per row, rows per block
  int64_t nvec;       // vectors per row
  bool in_registers;  // the row fits in vecs_per_thread vectors per thread
};

RowLayout row_layout(int64_t hidden, int vec, int vecs_per_thread) {
  RowLayout l;
  l.vec = vec;
  l.nvec = hidden / vec;
  const int64_t want = ceil_div(l.nvec, vecs_per_thread);
  l.tx = 1;
  while (l.tx < want && l.tx < kBlockThreads)
    l.tx *= 2;
  l.ry = kBlockThreads / l.tx;
  l.in_registers = l.nvec <= int64_t{vecs_per_thread} * l.tx;
  return l;
}

// 16-byte vectors when the row length and every buffer allow them, else single elements.
template <typename T>
int pick_vec(int64_t hidden, std::initializer_list<const void*> buffers) {
  if (hidden % kVec16<T> != 0) return 1;
  for (const void* p : buffers)
    if (!is_aligned(p, 16)) return 1;
  return kVec16<T>;
}

// Column indices inside a row are 32-bit (fewer registers); rows are counted in 64 bits.
void check_hidden(int64_t hidden) {
  if (hidden > std::numeric_limits<int>::max() / 2)
    throw std::invalid_argument("cuda_fused_rmsnorm: rows of more than 2^30 elements");
}

unsigned int grid_size(int64_t blocks) {
  if (blocks > std::numeric_limits<int>::max())
    throw std::invalid_argument("cuda_fused_rmsnorm: too many rows for one launch");
  return static_cast<unsigned int>(blocks);
}

// Sum of v over the tx threads of this thread's row. Every thread of the block calls it: for
// rows wider than a warp it synchronises the block.
__device__ __forceinline__ float row_sum(float v, float* scratch) {
  const int tx = blockDim.x;
  v = group_sum(v, tx < 32 ? tx : 32);
  if (tx <= 32) return v;
  float* mine = scratch + threadIdx.y * 32;
  if ((threadIdx.x & 31) == 0) mine[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < tx / 32; ++w)
    total += mine[w];
  __syncthreads();  // the scratch is reused by the next row
  return total;
}

template <typename T, int V, int K = kForwardVecs>
__global__ void __launch_bounds__(kBlockThreads, kForwardBlocksPerSM)
    rmsnorm_forward_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y,
                           float* __restrict__ rstd, int64_t rows, int64_t hidden, float eps,
                           bool in_registers) {
  __shared__ float scratch[kRowSumScratch];
  const int64_t row = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  const bool valid = row < rows;
  const int nvec = static_cast<int>(hidden / V);
  const T* xr = x + (valid ? row : 0) * hidden;
  T* yr = y + (valid ? row : 0) * hidden;

  // Only x is held across the reduction; w (the same for every row) is read after it, from
  // L1/L2, which keeps the kernel within 64 registers.
  Pack<T, V> xs[K];
  float sum_sq = 0.f;
  if (in_registers) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int j = threadIdx.x + k * blockDim.x;
      if (valid && j < nvec) {
        xs[k] = load_pack<T, V>(xr + j * V);
#pragma unroll
        for (int e = 0; e < V; ++e)
          sum_sq += to_float(xs[k].v[e]) * to_float(xs[k].v[e]);
      }
    }
  } else {
    for (int j = threadIdx.x; valid && j < nvec; j += blockDim.x) {
      const Pack<T, V> p = load_pack<T, V>(xr + j * V);
#pragma unroll
      for (int e = 0; e < V; ++e)
        sum_sq += to_float(p.v[e]) * to_float(p.v[e]);
    }
  }
  // mean as ATen's CUDA mean takes it: the sum times 1/H.
  const float r = rsqrtf(row_sum(sum_sq, scratch) * (1.f / static_cast<float>(hidden)) + eps);
  if (valid && threadIdx.x == 0) rstd[row] = r;

  auto normalise = [&](const Pack<T, V>& xp, const Pack<T, V>& wp) {
    Pack<T, V> out;
#pragma unroll
    for (int e = 0; e < V; ++e) {
      const float n = round_to<T>(to_float(xp.v[e]) * r);
      out.v[e] = from_float<T>(n * to_float(wp.v[e]));
    }
    return out;
  };
  if (in_registers) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int j = threadIdx.x + k * blockDim.x;
      if (valid && j < nvec)
        store_pack<T, V>(yr + j * V, normalise(xs[k], load_pack<T, V>(w + j * V)));
    }
  } else {
    for (int j = threadIdx.x; valid && j < nvec; j += blockDim.x)
      store_pack<T, V>(yr + j * V,
                       normalise(load_pack<T, V>(xr + j * V), load_pack<T, V>(w + j * V)));
  }
}

// Grid: at most kBackwardBlocksPerSM blocks per SM, each looping over groups of ry rows;
// partial[blockIdx.x] receives the block's dw sums.
template <typename T, int V, int K = kBackwardVecs>
__global__ void __launch_bounds__(kBlockThreads, kBackwardBlocksPerSM)
    rmsnorm_backward_kernel(const T* __restrict__ x, const T* __restrict__ w,
                            const T* __restrict__ dy, const float* __restrict__ rstd,
                            T* __restrict__ dx, float* __restrict__ partial, int64_t rows,
                            int64_t hidden, bool in_registers) {
  __shared__ float scratch[kRowSumScratch];
  extern __shared__ float fold[];  // [ry][hidden] when in_registers and ry > 1
  const int nvec = static_cast<int>(hidden / V);
  const float inv_h = 1.f / static_cast<float>(hidden);
  float* my_partial = partial + int64_t{blockIdx.x} * hidden;

  float dw[K][V];
#pragma unroll
  for (int k = 0; k < K; ++k)
#pragma unroll
    for (int e = 0; e < V; ++e)
      dw[k][e] = 0.f;
  if (!in_registers) {  // streaming: one row per block (tx = 256); each thread its own columns
    for (int j = threadIdx.x; j < nvec; j += blockDim.x)
#pragma unroll
      for (int e = 0; e < V; ++e)
        my_partial[j * V + e] = 0.f;
  }

  const int64_t row_step = int64_t{gridDim.x} * blockDim.y;
  for (int64_t base = int64_t{blockIdx.x} * blockDim.y; base < rows; base += row_step) {
    const int64_t row = base + threadIdx.y;
    const bool valid = row < rows;
    const float r = valid ? rstd[row] : 0.f;
    const int64_t offset = (valid ? row : 0) * hidden;
    const T *xr = x + offset, *dyr = dy + offset;
    T* dxr = dx + offset;

    // dx of one vector given c = sum(g * n) / H; adds dy * round_T(n) to acc.
    auto grad = [&](const Pack<T, V>& xp, const Pack<T, V>& dp, const Pack<T, V>& wp, float c,
                    float(&acc)[V]) {
      Pack<T, V> out;
#pragma unroll
      for (int e = 0; e < V; ++e) {
        const float d = to_float(dp.v[e]), n = to_float(xp.v[e]) * r;
        out.v[e] = from_float<T>(r * (d * to_float(wp.v[e]) - n * c));
        acc[e] += d * round_to<T>(n);
      }
      return out;
    };
    if (in_registers) {
      Pack<T, V> xs[K], ds[K];  // w is read again after the reduction (L1), like the forward
      float dot = 0.f;
#pragma unroll
      for (int k = 0; k < K; ++k) {
        const int j = threadIdx.x + k * blockDim.x;
        if (valid && j < nvec) {
          xs[k] = load_pack<T, V>(xr + j * V);
          ds[k] = load_pack<T, V>(dyr + j * V);
          const Pack<T, V> wp = load_pack<T, V>(w + j * V);
#pragma unroll
          for (int e = 0; e < V; ++e)
            dot += to_float(ds[k].v[e]) * to_float(wp.v[e]) * (to_float(xs[k].v[e]) * r);
        }
      }
      const float c = row_sum(dot, scratch) * inv_h;
#pragma unroll
      for (int k = 0; k < K; ++k) {
        const int j = threadIdx.x + k * blockDim.x;
        if (valid && j < nvec)
          store_pack<T, V>(dxr + j * V, grad(xs[k], ds[k], load_pack<T, V>(w + j * V), c, dw[k]));
      }
    } else {
      float dot = 0.f;
      for (int j = threadIdx.x; valid && j < nvec; j += blockDim.x) {
        const Pack<T, V> xp = load_pack<T, V>(xr + j * V), dp = load_pack<T, V>(dyr + j * V),
                         wp = load_pack<T, V>(w + j * V);
#pragma unroll
        for (int e = 0; e < V; ++e)
          dot += to_float(dp.v[e]) * to_float(wp.v[e]) * (to_float(xp.v[e]) * r);
      }
      const float c = row_sum(dot, scratch) * inv_h;
      for (int j = threadIdx.x; valid && j < nvec; j += blockDim.x) {
        float acc[V];
#pragma unroll
        for (int e = 0; e < V; ++e)
          acc[e] = my_partial[j * V + e];
        store_pack<T, V>(dxr + j * V,
                         grad(load_pack<T, V>(xr + j * V), load_pack<T, V>(dyr + j * V),
                              load_pack<T, V>(w + j * V), c, acc));
#pragma unroll
        for (int e = 0; e < V; ++e)
          my_partial[j * V + e] = acc[e];
      }
    }
  }

  if (!in_registers) return;
  if (blockDim.y == 1) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int j = threadIdx.x + k * blockDim.x;
      if (j < nvec)
#pragma unroll
        for (int e = 0; e < V; ++e)
          my_partial[j * V + e] = dw[k][e];
    }
    return;
  }
  // Fold the block's ry rows of sums into one partial row, in a fixed order (deterministic).
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int j = threadIdx.x + k * blockDim.x;
    if (j < nvec)
#pragma unroll
      for (int e = 0; e < V; ++e)
        fold[threadIdx.y * hidden + j * V + e] = dw[k][e];
  }
  __syncthreads();
  const int threads = blockDim.x * blockDim.y;
  for (int i = threadIdx.y * blockDim.x + threadIdx.x; i < hidden; i += threads) {
    float s = 0.f;
    for (int yy = 0; yy < static_cast<int>(blockDim.y); ++yy)
      s += fold[yy * hidden + i];
    my_partial[i] = s;
  }
}

// out[col] = round_T(sum over p of partial[p][col]). Block: 32 columns x 32 slices of rows.
template <typename T>
__global__ void __launch_bounds__(1024)
    column_sum_kernel(const float* __restrict__ partial, int64_t parts, int64_t hidden,
                      T* __restrict__ out) {
  __shared__ float tile[32][33];
  const int64_t col = int64_t{blockIdx.x} * 32 + threadIdx.x;
  float s = 0.f;
  if (col < hidden)
    for (int64_t p = threadIdx.y; p < parts; p += blockDim.y)
      s += partial[p * hidden + col];
  tile[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && col < hidden) {
    float total = 0.f;
    for (int i = 0; i < static_cast<int>(blockDim.y); ++i)
      total += tile[i][threadIdx.x];
    out[col] = from_float<T>(total);
  }
}

}  // namespace

void rmsnorm_forward(const void* x, const void* weight, void* y, float* rstd, int64_t rows,
                     int64_t hidden, float eps, DType dtype, cudaStream_t stream) {
  if (rows == 0 || hidden == 0) return;
  check_hidden(hidden);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const RowLayout l = row_layout(hidden, pick_vec<T>(hidden, {x, weight, y}), kForwardVecs);
    const dim3 block(l.tx, l.ry);
    const unsigned int grid = grid_size(ceil_div(rows, l.ry));
    const T *xp = static_cast<const T*>(x), *wp = static_cast<const T*>(weight);
    T* yp = static_cast<T*>(y);
    if (l.vec == 1) {
      rmsnorm_forward_kernel<T, 1>
          <<<grid, block, 0, stream>>>(xp, wp, yp, rstd, rows, hidden, eps, l.in_registers);
    } else {
      rmsnorm_forward_kernel<T, kVec16<T>>
          <<<grid, block, 0, stream>>>(xp, wp, yp, rstd, rows, hidden, eps, l.in_registers);
    }
    FUSEBOX_CUDA_CHECK_LAUNCH();
  });
}

int64_t rmsnorm_backward_workspace_rows() {
  return int64_t{multiprocessor_count()} * kBackwardBlocksPerSM;
}

void rmsnorm_backward(const void* x, const void* weight, const void* dy, const float* rstd,
                      void* dx, void* dweight, float* workspace, int64_t rows, int64_t hidden,
                      DType dtype, cudaStream_t stream) {
  if (hidden == 0) return;
  if (rows == 0) {  // no rows: the weight gradient is an empty sum
    FUSEBOX_CUDA_CHECK(cudaMemsetAsync(dweight, 0, hidden * dtype_size(dtype), stream));
    return;
  }
  check_hidden(hidden);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const RowLayout l = row_layout(hidden, pick_vec<T>(hidden, {x, weight, dy, dx}), kBackwardVecs);
    const dim3 block(l.tx, l.ry);
    const int64_t parts = std::min(ceil_div(rows, l.ry), rmsnorm_backward_workspace_rows());
    const std::size_t fold_bytes =
        l.in_registers && l.ry > 1 ? sizeof(float) * l.ry * static_cast<std::size_t>(hidden) : 0;
    const T *xp = static_cast<const T*>(x), *wp = static_cast<const T*>(weight),
            *dyp = static_cast<const T*>(dy);
    T* dxp = static_cast<T*>(dx);
    if (l.vec == 1) {
      rmsnorm_backward_kernel<T, 1><<<grid_size(parts), block, fold_bytes, stream>>>(
          xp, wp, dyp, rstd, dxp, workspace, rows, hidden, l.in_registers);
    } else {
      rmsnorm_backward_kernel<T, kVec16<T>><<<grid_size(parts), block, fold_bytes, stream>>>(
          xp, wp, dyp, rstd, dxp, workspace, rows, hidden, l.in_registers);
    }
    FUSEBOX_CUDA_CHECK_LAUNCH();
    column_sum_kernel<T><<<grid_size(ceil_div(hidden, 32)), dim3(32, 32), 0, stream>>>(
        workspace, parts, hidden, static_cast<T*>(dweight));
    FUSEBOX_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace fusebox::ops::cuda
