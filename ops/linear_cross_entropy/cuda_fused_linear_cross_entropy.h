// Launcher of the CUDA cross-entropy row kernel of cuda_fused_linear_cross_entropy
// (cuda_fused_linear_cross_entropy.cu). Torch-free: raw device pointers, sizes, the storage
// dtype and a stream. Nothing synchronises the host; errors throw std::runtime_error.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/common/cuda_common.cuh"

namespace fusebox::ops::cuda {

// For each of `rows` rows of logits z ([rows, vocab] row-major, `dtype`) with target t
// (int64; `ignore_index` = nothing to learn):
//   row_loss[i] = log(sum_j exp(z_j)) - z_t  in fp32   (0 for an ignored row)
// and, when write_grad, overwrites z in place with the logits' gradient
//   dz_j = round((softmax(z)_j - [j == t]) / *denom)    (0 for an ignored row)
// denom: one fp32 on the device (the loss normaliser, >= 1), read there so that a normaliser
// counted on the GPU never needs the host. A target outside [0, vocab) gives a NaN loss and
// NaN gradients for its row (the reference stops with a device-side assert instead).
void cross_entropy_rows(void* logits, int64_t rows, int64_t vocab, const int64_t* targets,
                        int64_t ignore_index, const float* denom, bool write_grad, float* row_loss,
                        DType dtype, cudaStream_t stream);

}  // namespace fusebox::ops::cuda
