// Shared by the framework-free CUDA kernels under ops/: no torch here, so every .cu file also
// compiles with nvcc alone (the CPU-only build machine checks them that way for sm_90).
//
// The torch side (ops/<layer>/cuda_fused_<layer>.cpp) turns tensors into raw pointers, a
// DType and the current stream, and calls the launchers that the .cu files define.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace fusebox::ops::cuda {

// The storage dtypes the kernels handle; math is always fp32.
enum class DType { kFloat32, kBFloat16, kFloat16 };

// Throws std::runtime_error naming the call site, so the torch wrapper turns a failed launch
// into a clear error instead of a later, unrelated CUDA failure.
inline void check(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string(what) + " failed at " + file + ":" +
                             std::to_string(line) + ": " + cudaGetErrorString(status));
  }
}

}  // namespace fusebox::ops::cuda

// Wrap every CUDA runtime call; after a <<<...>>> launch use FUSEBOX_CUDA_CHECK_LAUNCH().
#define FUSEBOX_CUDA_CHECK(expr) ::fusebox::ops::cuda::check((expr), #expr, __FILE__, __LINE__)
#define FUSEBOX_CUDA_CHECK_LAUNCH() \
  ::fusebox::ops::cuda::check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

#ifdef __CUDACC__
namespace fusebox::ops::cuda {

// fp32 <-> storage conversions used by every kernel.
__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16(v);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half(v); }

// Rounds an fp32 value through storage type T (a no-op for fp32): reproduces the reference's
// intermediate casts, e.g. RMSNorm's `(x * rstd).to(dtype)` before the weight multiply.
template <typename T>
__device__ __forceinline__ float round_to(float v) { return to_float(from_float<T>(v)); }

}  // namespace fusebox::ops::cuda
#endif
