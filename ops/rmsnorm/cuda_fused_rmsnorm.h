// Launchers of the CUDA RMSNorm kernels (cuda_fused_rmsnorm.cu). Torch-free: raw device
// pointers, sizes, the storage dtype and a stream. Every pointer is a contiguous [rows, hidden]
// row-major buffer (weight and dweight: [hidden]) of `dtype` unless it says float; x, weight and
// the outputs share one dtype. Nothing synchronises the host; errors throw std::runtime_error.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/common/cuda_common.cuh"

namespace fusebox::ops::cuda {

// y = round(round(x * r) * weight) per row, r = 1 / sqrt(mean(x^2) + eps) kept in fp32 in
// rstd[rows] for the backward.
void rmsnorm_forward(const void* x, const void* weight, void* y, float* rstd, int64_t rows,
                     int64_t hidden, float eps, DType dtype, cudaStream_t stream);

// fp32 scratch rows rmsnorm_backward needs for the weight gradient: give it a buffer of
// rmsnorm_backward_workspace_rows() * hidden floats (on the current device).
int64_t rmsnorm_backward_workspace_rows();

// dx per row and dweight = sum over rows of dy * round(x * r), from the forward's x, weight and
// rstd. dweight is reduced through `workspace` (per-block fp32 partial sums), never atomics.
void rmsnorm_backward(const void* x, const void* weight, const void* dy, const float* rstd,
                      void* dx, void* dweight, float* workspace, int64_t rows, int64_t hidden,
                      DType dtype, cudaStream_t stream);

}  // namespace fusebox::ops::cuda
