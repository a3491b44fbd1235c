// The fused SwiGLU activation of cuda_fused_swiglu, exposed for the CUDA tests and benchmarks
// (the kernel itself is installed into model::Qwen3MLPImpl through the registry). Built only
// with a CUDA libtorch.
#pragma once

#include <torch/torch.h>

namespace fusebox::ops {

// h = silu(gate) * up with autograd, one kernel per direction; saves only gate and up.
// gate and up: the same shape, dtype and CUDA device. fp32/bf16/fp16 run the fused kernels;
// other dtypes, mixed dtypes and CPU tensors run torch::silu(gate) * up.
torch::Tensor cuda_swiglu_activation(const torch::Tensor& gate, const torch::Tensor& up);

}  // namespace fusebox::ops
