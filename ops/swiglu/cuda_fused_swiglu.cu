// cuda_fused_swiglu: the SwiGLU activation of the Qwen3 MLP, h = silu(g) * u, forward and
// backward, each one pass over its tensors, fp32 math whatever the storage dtype T. The GEMMs
// around it (gate_proj, up_proj, down_proj) stay cuBLAS, called by the torch wrapper.
//
// Forward, per element, with ATen's CUDA silu formula (expf and an IEEE division, no fast
// math), so that the values are the reference's:
//   e = exp(-g);  a = round_T(g / (1 + e));  h = round_T(a * u)
// round_T rounds to the storage dtype: silu's output is a tensor of the dtype in the
// reference; in fp32 it is a no-op. Saved for backward (by the torch wrapper): g and u only.
// Backward, recomputing the sigmoid:
//   s = 1 / (1 + e);  du = round_T(dh * a);  dg = round_T(round_T(dh * u) * s * (1 + g * (1 - s)))
// where round_T(dh * u) is the reference's gradient of silu's output and the product after it
// is ATen's silu_backward, in its order.
//
// Layout: n contiguous elements (any shape). 16-byte vectors when every buffer is 16-byte
// aligned; the last n mod 8 (bf16/fp16) or n mod 4 (fp32) elements, and misaligned buffers,
// go element by element through the same kernel. Each thread handles kUnroll vectors and
// issues all their loads before any math, to keep enough bytes in flight.
// Dtypes: fp32, bf16, fp16 (g, u, h and the gradients of one dtype).
#include <limits>

#include "ops/common/cuda_common.cuh"
#include "ops/swiglu/cuda_fused_swiglu.h"

namespace fusebox::ops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    swiglu_forward_kernel(const T* __restrict__ g, const T* __restrict__ u, T* __restrict__ h,
                          int64_t nvec) {
  const int64_t first = int64_t{blockIdx.x} * (kThreads * kUnroll) + threadIdx.x;
  Pack<T, V> gp[kUnroll], up[kUnroll];
#pragma unroll
  for (int k = 0; k < kUnroll; ++k) {
    const int64_t i = first + k * kThreads;
    if (i < nvec) {
      gp[k] = load_pack<T, V>(g + i * V);
      up[k] = load_pack<T, V>(u + i * V);
    }
  }
#pragma unroll
  for (int k = 0; k < kUnroll; ++k) {
    const int64_t i = first + k * kThreads;
    if (i >= nvec) continue;
    Pack<T, V> out;
#pragma unroll
    for (int e = 0; e < V; ++e) {
      const float gv = to_float(gp[k].v[e]);
      const float a = round_to<T>(gv / (1.f + expf(-gv)));
      out.v[e] = from_float<T>(a * to_float(up[k].v[e]));
    }
    store_pack<T, V>(h + i * V, out);
  }
}

template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    swiglu_backward_kernel(const T* __restrict__ g, const T* __restrict__ u,
                           const T* __restrict__ dh, T* __restrict__ dg, T* __restrict__ du,
                           int64_t nvec) {
  const int64_t first = int64_t{blockIdx.x} * (kThreads * kUnroll) + threadIdx.x;
  Pack<T, V> gp[kUnroll], up[kUnroll], dp[kUnroll];
#pragma unroll
  for (int k = 0; k < kUnroll; ++k) {
    const int64_t i = first + k * kThreads;
    if (i < nvec) {
      gp[k] = load_pack<T, V>(g + i * V);
      up[k] = load_pack<T, V>(u + i * V);
      dp[k] = load_pack<T, V>(dh + i * V);
    }
  }
#pragma unroll
  for (int k = 0; k < kUnroll; ++k) {
    const int64_t i = first + k * kThreads;
    if (i >= nvec) continue;
    Pack<T, V> dg_out, du_out;
#pragma unroll
    for (int e = 0; e < V; ++e) {
      const float gv = to_float(gp[k].v[e]), d = to_float(dp[k].v[e]);
      const float ex = expf(-gv);
      const float a = round_to<T>(gv / (1.f + ex));
      const float s = 1.f / (1.f + ex);
      const float da = round_to<T>(d * to_float(up[k].v[e]));
      dg_out.v[e] = from_float<T>(da * s * (1.f + gv * (1.f - s)));
      du_out.v[e] = from_float<T>(d * a);
    }
    store_pack<T, V>(dg + i * V, dg_out);
    store_pack<T, V>(du + i * V, du_out);
  }
}

unsigned int grid_for(int64_t nvec) {
  const int64_t blocks = ceil_div(nvec, int64_t{kThreads} * kUnroll);
  if (blocks > std::numeric_limits<int>::max())
    throw std::invalid_argument("cuda_fused_swiglu: too many elements for one launch");
  return static_cast<unsigned int>(blocks);
}

// Elements [0, split) go through 16-byte vectors, [split, n) one by one.
template <typename T>
int64_t vector_split(int64_t n, std::initializer_list<const void*> buffers) {
  for (const void* p : buffers)
    if (!is_aligned(p, 16)) return 0;
  return n / kVec16<T> * kVec16<T>;
}

}  // namespace

void swiglu_forward(const void* g, const void* u, void* h, int64_t n, DType dtype,
                    cudaStream_t stream) {
  if (n == 0) return;
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVec16<T>;
    const T *gp = static_cast<const T*>(g), *up = static_cast<const T*>(u);
    T* hp = static_cast<T*>(h);
    const int64_t split = vector_split<T>(n, {g, u, h});
    if (split > 0) {
      swiglu_forward_kernel<T, V>
          <<<grid_for(split / V), kThreads, 0, stream>>>(gp, up, hp, split / V);
      FUSEBOX_CUDA_CHECK_LAUNCH();
    }
    if (split < n) {
      swiglu_forward_kernel<T, 1><<<grid_for(n - split), kThreads, 0, stream>>>(
          gp + split, up + split, hp + split, n - split);
      FUSEBOX_CUDA_CHECK_LAUNCH();
    }
  });
}

void swiglu_backward(const void* g, const void* u, const void* dh, void* dg, void* du, int64_t n,
                     DType dtype, cudaStream_t stream) {
  if (n == 0) return;
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVec16<T>;
    const T *gp = static_cast<const T*>(g), *up = static_cast<const T*>(u),
            *dhp = static_cast<const T*>(dh);
    T *dgp = static_cast<T*>(dg), *dup = static_cast<T*>(du);
    const int64_t split = vector_split<T>(n, {g, u, dh, dg, du});
    if (split > 0) {
      swiglu_backward_kernel<T, V>
          <<<grid_for(split / V), kThreads, 0, stream>>>(gp, up, dhp, dgp, dup, split / V);
      FUSEBOX_CUDA_CHECK_LAUNCH();
    }
    if (split < n) {
      swiglu_backward_kernel<T, 1><<<grid_for(n - split), kThreads, 0, stream>>>(
          gp + split, up + split, dhp + split, dgp + split, dup + split, n - split);
      FUSEBOX_CUDA_CHECK_LAUNCH();
    }
  });
}

}  // namespace fusebox::ops::cuda
