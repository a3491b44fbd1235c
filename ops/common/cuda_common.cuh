// Shared by the framework-free CUDA kernels under ops/: no torch here, so every .cu file also
// compiles with nvcc alone (the CPU-only build machine checks them that way for sm_90).
//
// The torch side (ops/<layer>/cuda_fused_<layer>.cpp) turns tensors into raw pointers, a
// DType and the current stream, and calls the launchers that the .cu files define. This header
// is also included there (compiled by the host C++ compiler): everything that needs nvcc sits
// under __CUDACC__ below.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace fusebox::ops::cuda {

// The storage dtypes the kernels handle; math is always fp32.
enum class DType { kFloat32, kBFloat16, kFloat16 };

inline std::size_t dtype_size(DType dtype) {
  return dtype == DType::kFloat32 ? 4 : 2;
}

// The compute capabilities this build has device code for, as major*10+minor; 0 = no bound.
// cmake/CudaSetup.cmake derives them from the nvcc architecture flags, and every CUDA kernel
// registers with this range, so that `auto` never picks a kernel without code for the GPU.
#if defined(FUSEBOX_CUDA_MIN_CC) && defined(FUSEBOX_CUDA_MAX_CC)
inline constexpr int kBuiltMinComputeCapability = FUSEBOX_CUDA_MIN_CC;
inline constexpr int kBuiltMaxComputeCapability = FUSEBOX_CUDA_MAX_CC;
#endif

// Throws std::runtime_error naming the call site, so the torch wrapper turns a failed launch
// into a clear error instead of a later, unrelated CUDA failure.
inline void check(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string(what) + " failed at " + file + ":" + std::to_string(line) +
                             ": " + cudaGetErrorString(status));
  }
}

}  // namespace fusebox::ops::cuda

// Wrap every CUDA runtime call; after a <<<...>>> launch use FUSEBOX_CUDA_CHECK_LAUNCH().
#define FUSEBOX_CUDA_CHECK(expr) ::fusebox::ops::cuda::check((expr), #expr, __FILE__, __LINE__)
#define FUSEBOX_CUDA_CHECK_LAUNCH() \
  ::fusebox::ops::cuda::check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

namespace fusebox::ops::cuda {

inline int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

inline bool is_aligned(const void* p, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(p) % bytes == 0;
}

// Streaming multiprocessors of the current device, for sizing grids. Cached per device: the
// attribute query is cheap but not free, and launchers call this on every launch.
inline int multiprocessor_count() {
  int device = 0;
  FUSEBOX_CUDA_CHECK(cudaGetDevice(&device));
  constexpr int kCached = 64;
  static std::atomic<int> cache[kCached];  // zero-initialised: 0 = not asked yet
  if (device < kCached) {
    if (int n = cache[device].load(std::memory_order_relaxed)) return n;
  }
  int n = 0;
  FUSEBOX_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
  if (device < kCached) cache[device].store(n, std::memory_order_relaxed);
  return n;
}

}  // namespace fusebox::ops::cuda

#ifdef __CUDACC__
namespace fusebox::ops::cuda {

// fp32 <-> storage conversions used by every kernel.
__device__ __forceinline__ float to_float(float v) {
  return v;
}
__device__ __forceinline__ float to_float(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
__device__ __forceinline__ float to_float(__half v) {
  return __half2float(v);
}

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16(v);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half(v);
}

// Rounds an fp32 value through storage type T (a no-op for fp32): reproduces the reference's
// intermediate casts, e.g. RMSNorm's `(x * rstd).to(dtype)` before the weight multiply.
template <typename T>
__device__ __forceinline__ float round_to(float v) {
  return to_float(from_float<T>(v));
}

// Elements of T in one 16-byte access, the widest single load/store instruction.
template <typename T>
inline constexpr int kVec16 = 16 / static_cast<int>(sizeof(T));

// V elements of T aligned so that one instruction moves them; callers make sure the address
// is a multiple of sizeof(T) * V.
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <typename T, int V>
__device__ __forceinline__ Pack<T, V> load_pack(const T* p) {
  return *reinterpret_cast<const Pack<T, V>*>(p);
}

template <typename T, int V>
__device__ __forceinline__ void store_pack(T* p, const Pack<T, V>& pack) {
  *reinterpret_cast<Pack<T, V>*>(p) = pack;
}

// Sum over aligned groups of `width` consecutive lanes (a power of two <= 32); every lane
// gets its group's sum. All 32 lanes of the warp must call it.
__device__ __forceinline__ float group_sum(float v, int width) {
  for (int offset = width / 2; offset > 0; offset /= 2)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Runs f(T{}) with T the storage type of `dtype`: one line per launcher instead of a switch.
template <typename F>
void dispatch_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kFloat32:
      return f(float{});
    case DType::kBFloat16:
      return f(__nv_bfloat16{});
    case DType::kFloat16:
      return f(__half{});
  }
  throw std::invalid_argument("fusebox CUDA kernels: unknown DType");
}

}  // namespace fusebox::ops::cuda
#endif
