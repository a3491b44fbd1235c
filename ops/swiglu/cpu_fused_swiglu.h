// The fused SwiGLU activation of cpu_fused_swiglu, exposed for the parity tests and the
// benchmarks (the kernel itself is installed into model::Qwen3MLPImpl through the registry).
#pragma once

#include <torch/torch.h>

namespace fusebox::ops {

// h = silu(gate) * up with autograd, in one pass over each direction; saves only gate and up.
// gate and up: the same shape and dtype. fp32/bf16/fp16 on CPU run the fused kernel; other
// dtypes and devices run torch::silu(gate) * up.
torch::Tensor cpu_swiglu_activation(const torch::Tensor& gate, const torch::Tensor& up);

}  // namespace fusebox::ops
