// cuda_fused_moe's elementwise stages, the parts of the Qwen3-MoE block between and around the
// expert GEMMs (which cuBLAS / torch._grouped_mm run on the expert-sorted rows):
//   gather     xs[r] = x[token(r)]                       tokens into expert order, one pass
//   swiglu     h = round(round(silu(g)) * u)             between the gate_up and down GEMMs
//   combine    out[t] = sum_r round(y[r] * w[a(r)])      routing-weighted sum back to tokens
// and their backwards (combine: dy and the routing weights' gradient; swiglu: dg, du and h
// recomputed; gather: each token sums its rows' dx). Formulas in comments above each kernel.
//
// Rounding follows the reference forward (transformers' per-expert loop in the input dtype):
// every tensor the reference materialises in bf16/fp16 is rounded to it here too (silu(g),
// the expert output times its weight, index_add_'s running sum), math in fp32 in between.
// Determinism: no float atomics. Each token adds its own top_k contributions in ascending
// expert order (token_rows from the routing sort), as the reference's expert loop does.
//
// Dtypes: fp32, bf16, fp16 (one per call). Layout: contiguous row-major buffers; rows move in
// 16-byte packs when the row width and the pointers allow, element by element otherwise.
// Saved for backward (by the torch side): gu and y per row, the routing and the sort; h and xs
// are recomputed.
#include <algorithm>

#include "ops/moe/cuda_fused_moe.h"

namespace fusebox::ops::cuda {
namespace {

constexpr int kThreads = 256;

// Rows (or tokens) per launch are walked grid-stride; enough blocks to fill the GPU a few
// times over without launching one block per row for hundreds of thousands of rows.
unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>(std::min<int64_t>(rows, 64LL * multiprocessor_count()));
}

unsigned element_blocks(int64_t elements) {
  return static_cast<unsigned>(
      std::min<int64_t>(ceil_div(elements, kThreads), 64LL * multiprocessor_count()));
}

// The widest pack (elements of T) that every row of `width` elements at these pointers allows.
template <typename T>
int pack_width(int64_t width, std::initializer_list<const void*> pointers) {
  if (width % kVec16<T> != 0) return 1;
  for (const void* p : pointers)
    if (!is_aligned(p, 16)) return 1;
  return kVec16<T>;
}

// Sum over the block, valid in thread 0. `scratch` holds one float per warp; the trailing
// barrier lets the caller reuse it at once.
__device__ float block_sum(float v, float* scratch) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  v = group_sum(v, 32);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x / 32) ? scratch[lane] : 0.f;
    v = group_sum(v, 32);
  }
  __syncthreads();
  return v;
}

// torch's CUDA silu: x / (1 + exp(-x)) in fp32.
__device__ __forceinline__ float silu(float x) {
  return x / (1.f + expf(-x));
}

template <typename T, int V>
__global__ void gather_rows_kernel(const T* __restrict__ x,
                                   const int32_t* __restrict__ sorted_assignment, int64_t rows,
                                   int top_k, int64_t hidden, T* __restrict__ xs) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* src = x + static_cast<int64_t>(sorted_assignment[r] / top_k) * hidden;
    T* dst = xs + r * hidden;
    for (int64_t c = static_cast<int64_t>(threadIdx.x) * V; c < hidden;
         c += static_cast<int64_t>(blockDim.x) * V)
      store_pack<T, V>(dst + c, load_pack<T, V>(src + c));
  }
}

// a = round(silu(g)); h = round(a * u)
template <typename T>
__global__ void swiglu_forward_kernel(const T* __restrict__ gu, int64_t rows, int64_t inter,
                                      T* __restrict__ h) {
  const int64_t total = rows * inter;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / inter, j = i - r * inter;
    const float g = to_float(gu[r * 2 * inter + j]);
    const float u = to_float(gu[r * 2 * inter + inter + j]);
    h[i] = from_float<T>(round_to<T>(silu(g)) * u);
  }
}

// With a = round(silu(g)) and s = sigmoid(g):
//   du = round(dh * a);  da = round(dh * u);  dg = round(da * s * (1 + g * (1 - s)))
// (mul's backward, then torch's silu_backward formula), and h = round(a * u) again.
template <typename T>
__global__ void swiglu_backward_kernel(const T* __restrict__ gu, const T* __restrict__ dh,
                                       int64_t rows, int64_t inter, T* __restrict__ dgu,
                                       T* __restrict__ h) {
  const int64_t total = rows * inter;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / inter, j = i - r * inter;
    const int64_t gi = r * 2 * inter + j, ui = gi + inter;
    const float g = to_float(gu[gi]), u = to_float(gu[ui]), d = to_float(dh[i]);
    const float a = round_to<T>(silu(g));
    const float s = 1.f / (1.f + expf(-g));
    const float da = round_to<T>(d * u);
    dgu[gi] = from_float<T>(da * s * (1.f + g * (1.f - s)));
    dgu[ui] = from_float<T>(d * a);
    h[i] = from_float<T>(a * u);
  }
}

// out[t] = fold over token t's rows in expert order: acc = round(acc + round(y[r] * w))
template <typename T, int V>
__global__ void combine_forward_kernel(const T* __restrict__ y, const T* __restrict__ weights,
                                       const int32_t* __restrict__ sorted_assignment,
                                       const int32_t* __restrict__ token_rows, int64_t tokens,
                                       int top_k, int64_t hidden, T* __restrict__ out) {
  extern __shared__ float shared[];  // [top_k] weights, then [top_k] rows
  float* w = shared;
  int32_t* rows = reinterpret_cast<int32_t*>(shared + top_k);
  for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
    __syncthreads();  // the previous token's readers are done with w and rows
    for (int i = threadIdx.x; i < top_k; i += blockDim.x) {
      const int32_t r = token_rows[t * top_k + i];
      rows[i] = r;
      w[i] = to_float(weights[sorted_assignment[r]]);
    }
    __syncthreads();
    for (int64_t c = static_cast<int64_t>(threadIdx.x) * V; c < hidden;
         c += static_cast<int64_t>(blockDim.x) * V) {
      float acc[V] = {};
      for (int i = 0; i < top_k; ++i) {
        const Pack<T, V> p = load_pack<T, V>(y + static_cast<int64_t>(rows[i]) * hidden + c);
#pragma unroll
        for (int k = 0; k < V; ++k)
          acc[k] = round_to<T>(acc[k] + round_to<T>(to_float(p.v[k]) * w[i]));
      }
      Pack<T, V> o;
#pragma unroll
      for (int k = 0; k < V; ++k)
        o.v[k] = from_float<T>(acc[k]);
      store_pack<T, V>(out + t * hidden + c, o);
    }
  }
}

// dy[r] = round(dout[t] * w[a]);  dweights[a] = round(sum_h round(dout[t, h] * y[r, h]))
template <typename T, int V>
__global__ void combine_backward_kernel(const T* __restrict__ dout, const T* __restrict__ y,
                                        const T* __restrict__ weights,
                                        const int32_t* __restrict__ sorted_assignment, int64_t rows,
                                        int top_k, int64_t hidden, T* __restrict__ dy,
                                        T* __restrict__ dweights) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int32_t a = sorted_assignment[r];
    const T* g = dout + static_cast<int64_t>(a / top_k) * hidden;
    const float w = to_float(weights[a]);
    float dot = 0.f;
    for (int64_t c = static_cast<int64_t>(threadIdx.x) * V; c < hidden;
         c += static_cast<int64_t>(blockDim.x) * V) {
      const Pack<T, V> gp = load_pack<T, V>(g + c);
      const Pack<T, V> yp = load_pack<T, V>(y + r * hidden + c);
      Pack<T, V> o;
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const float d = to_float(gp.v[k]);
        o.v[k] = from_float<T>(d * w);
        dot += round_to<T>(d * to_float(yp.v[k]));
      }
      store_pack<T, V>(dy + r * hidden + c, o);
    }
    dot = block_sum(dot, scratch);
    if (threadIdx.x == 0) dweights[a] = from_float<T>(dot);
  }
}

// dx[t] = round(sum over token t's rows of dxs[r]), fp32 sum in expert order
template <typename T, int V>
__global__ void sum_token_rows_kernel(const T* __restrict__ dxs,
                                      const int32_t* __restrict__ token_rows, int64_t tokens,
                                      int top_k, int64_t hidden, T* __restrict__ dx) {
  for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
    for (int64_t c = static_cast<int64_t>(threadIdx.x) * V; c < hidden;
         c += static_cast<int64_t>(blockDim.x) * V) {
      float acc[V] = {};
      for (int i = 0; i < top_k; ++i) {
        const int64_t r = token_rows[t * top_k + i];
        const Pack<T, V> p = load_pack<T, V>(dxs + r * hidden + c);
#pragma unroll
        for (int k = 0; k < V; ++k)
          acc[k] += to_float(p.v[k]);
      }
      Pack<T, V> o;
#pragma unroll
      for (int k = 0; k < V; ++k)
        o.v[k] = from_float<T>(acc[k]);
      store_pack<T, V>(dx + t * hidden + c, o);
    }
  }
}

}  // namespace

void moe_gather_rows(const void* x, const int32_t* sorted_assignment, int64_t rows, int64_t top_k,
                     int64_t hidden, void* xs, DType dtype, cudaStream_t stream) {
  if (rows == 0 || hidden == 0) return;
  dispatch_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    constexpr int V = kVec16<T>;
    const auto* src = static_cast<const T*>(x);
    auto* dst = static_cast<T*>(xs);
    const int k = static_cast<int>(top_k);
    if (pack_width<T>(hidden, {x, xs}) == V) {
      gather_rows_kernel<T, V>
          <<<row_blocks(rows), kThreads, 0, stream>>>(src, sorted_assignment, rows, k, hidden, dst);
    } else {
      gather_rows_kernel<T, 1>
          <<<row_blocks(rows), kThreads, 0, stream>>>(src, sorted_assignment, rows, k, hidden, dst);
    }
    FUSEBOX_CUDA_CHECK_LAUNCH();
  });
}

void moe_swiglu_forward(const void* gu, int64_t rows, int64_t inter, void* h, DType dtype,
                        cudaStream_t stream) {
  if (rows * inter == 0) return;
  dispatch_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    swiglu_forward_kernel<T><<<element_blocks(rows * inter), kThreads, 0, stream>>>(
        static_cast<const T*>(gu), rows, inter, static_cast<T*>(h));
    FUSEBOX_CUDA_CHECK_LAUNCH();
  });
}

void moe_swiglu_backward(const void* gu, const void* dh, int64_t rows, int64_t inter, void* dgu,
                         void* h, DType dtype, cudaStream_t stream) {
  if (rows * inter == 0) return;
  dispatch_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    swiglu_backward_kernel<T><<<element_blocks(rows * inter), kThreads, 0, stream>>>(
        static_cast<const T*>(gu), static_cast<const T*>(dh), rows, inter, static_cast<T*>(dgu),
        static_cast<T*>(h));
    FUSEBOX_CUDA_CHECK_LAUNCH();
  });
}

void moe_combine_forward(const void* y, const void* weights, const int32_t* sorted_assignment,
                         const int32_t* token_rows, int64_t tokens, int64_t top_k, int64_t hidden,
                         void* out, DType dtype, cudaStream_t stream) {
  if (tokens == 0 || hidden == 0) return;
  dispatch_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    constexpr int V = kVec16<T>;
    const size_t smem = static_cast<size_t>(top_k) * (sizeof(float) + sizeof(int32_t));
    const auto* ys = static_cast<const T*>(y);
    const auto* w = static_cast<const T*>(weights);
    auto* o = static_cast<T*>(out);
    const int k = static_cast<int>(top_k);
    if (pack_width<T>(hidden, {y, out}) == V) {
      combine_forward_kernel<T, V><<<row_blocks(tokens), kThreads, smem, stream>>>(
          ys, w, sorted_assignment, token_rows, tokens, k, hidden, o);
    } else {
      combine_forward_kernel<T, 1><<<row_blocks(tokens), kThreads, smem, stream>>>(
          ys, w, sorted_assignment, token_rows, tokens, k, hidden, o);
    }
    FUSEBOX_CUDA_CHECK_LAUNCH();
  });
}

void moe_combine_backward(const void* dout, const void* y, const void* weights,
                          const int32_t* sorted_assignment, int64_t rows, int64_t top_k,
                          int64_t hidden, void* dy, void* dweights, DType dtype,
                          cudaStream_t stream) {
  if (rows == 0) return;
  dispatch_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    constexpr int V = kVec16<T>;
    const auto* g = static_cast<const T*>(dout);
    const auto* ys = static_cast<const T*>(y);
    const auto* w = static_cast<const T*>(weights);
    auto* d = static_cast<T*>(dy);
    auto* dw = static_cast<T*>(dweights);
    const int k = static_cast<int>(top_k);
    if (pack_width<T>(hidden, {dout, y, dy}) == V) {
      combine_backward_kernel<T, V><<<row_blocks(rows), kThreads, 0, stream>>>(
          g, ys, w, sorted_assignment, rows, k, hidden, d, dw);
    } else {
      combine_backward_kernel<T, 1><<<row_blocks(rows), kThreads, 0, stream>>>(
          g, ys, w, sorted_assignment, rows, k, hidden, d, dw);
    }
    FUSEBOX_CUDA_CHECK_LAUNCH();
  });
}

void moe_sum_token_rows(const void* dxs, const int32_t* token_rows, int64_t tokens, int64_t top_k,
                        int64_t hidden, void* dx, DType dtype, cudaStream_t stream) {
  if (tokens == 0 || hidden == 0) return;
  dispatch_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    constexpr int V = kVec16<T>;
    const auto* src = static_cast<const T*>(dxs);
    auto* dst = static_cast<T*>(dx);
    const int k = static_cast<int>(top_k);
    if (pack_width<T>(hidden, {dxs, dx}) == V) {
      sum_token_rows_kernel<T, V>
          <<<row_blocks(tokens), kThreads, 0, stream>>>(src, token_rows, tokens, k, hidden, dst);
    } else {
      sum_token_rows_kernel<T, 1>
          <<<row_blocks(tokens), kThreads, 0, stream>>>(src, token_rows, tokens, k, hidden, dst);
    }
    FUSEBOX_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace fusebox::ops::cuda
