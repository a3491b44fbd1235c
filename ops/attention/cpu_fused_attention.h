// cpu_fused_attention: causal grouped-query attention with the "Attention" layer's contract
// (src/model/attention_core.h), tiled with an online softmax so the [Sq x Sk] scores never
// exist. cpu_fused_attention.cpp has the full description; this header joins its three files
// and lets benchmarks call the op without a layer.
#pragma once

#include <torch/torch.h>

namespace fusebox::ops {

// softmax(q k^T * scaling + causal mask) v, with autograd. q [B, Hq, Sq, D], k and v
// [B, Hkv, Sk, D], Hq % Hkv == 0, Sq <= Sk, queries at the last Sq key positions; fp32, bf16
// or fp16 on the CPU, any strides. Throws c10::Error naming the tensor on a shape mismatch.
torch::Tensor cpu_fused_attention(const torch::Tensor& q, const torch::Tensor& k,
                                  const torch::Tensor& v, double scaling);

namespace attention {

// The two passes, on q, k, v, dout of one dtype with checked shapes whose last dimension has
// unit stride (other strides are free); outputs (out, lse, dq, dk, dv) preallocated contiguous.
// lse is fp32 [B, Hq, Sq]: the log-sum-exp of each query's scaled scores.
void forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scaling,
             torch::Tensor& out, torch::Tensor& lse);
void backward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
              const torch::Tensor& out, const torch::Tensor& lse, const torch::Tensor& dout,
              double scaling, torch::Tensor& dq, torch::Tensor& dk, torch::Tensor& dv);

}  // namespace attention
}  // namespace fusebox::ops
