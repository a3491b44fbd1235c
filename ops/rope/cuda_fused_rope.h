// Launcher of the CUDA RoPE kernel (cuda_fused_rope.cu). Torch-free: raw device pointers,
// element strides, the storage dtype and a stream. Nothing synchronises the host; errors throw
// std::runtime_error.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/common/cuda_common.cuh"

namespace fusebox::ops::cuda {

// One of q/k: a [batch, heads, seq, head_dim] source and destination, each with its own
// element strides for batch, head and position; the last dimension is unit-stride in both.
// heads may be 0 (nothing to rotate, e.g. a gradient that autograd did not produce).
struct RopeOperand {
  const void* src = nullptr;
  void* dst = nullptr;
  int64_t heads = 0;
  int64_t src_stride_b = 0, src_stride_h = 0, src_stride_s = 0;
  int64_t dst_stride_b = 0, dst_stride_h = 0, dst_stride_s = 0;
};

// Rotates q and k in one launch: dst = src * cos + rotate_half(src) * sin with
// cos/sin(position * inv_freq[i]) computed in fp32 and rounded to `dtype`, as the reference
// computes and casts them. inverse = true rotates by the negated angle: the backward.
// positions: int64 [batch, seq] with the given element strides (stride_b = 0 shares one row
// between the batch); inv_freq: fp32 [head_dim / 2]. head_dim must be even.
void rope_rotate(const RopeOperand& q, const RopeOperand& k, int64_t batch, int64_t seq,
                 int64_t head_dim, const int64_t* positions, int64_t pos_stride_b,
                 int64_t pos_stride_s, const float* inv_freq, bool inverse, DType dtype,
                 cudaStream_t stream);

}  // namespace fusebox::ops::cuda
