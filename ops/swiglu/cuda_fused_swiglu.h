// Launchers of the CUDA SwiGLU activation kernels (cuda_fused_swiglu.cu). Torch-free: raw
// device pointers to `n` contiguous elements of `dtype` each, and a stream. Nothing
// synchronises the host; errors throw std::runtime_error.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/common/cuda_common.cuh"

namespace fusebox::ops::cuda {

// h = round(round(silu(g)) * u), silu(g) = g / (1 + exp(-g)) in fp32.
void swiglu_forward(const void* g, const void* u, void* h, int64_t n, DType dtype,
                    cudaStream_t stream);

// dg and du from dh and the forward's inputs g and u (the sigmoid is recomputed).
void swiglu_backward(const void* g, const void* u, const void* dh, void* dg, void* du, int64_t n,
                     DType dtype, cudaStream_t stream);

}  // namespace fusebox::ops::cuda
