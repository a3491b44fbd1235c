// The router's auxiliary load-balancing loss, as transformers' load_balancing_loss_func
// computes it for Qwen3-MoE (Switch Transformer eqs. 4-6, extended to top-k routing).
#pragma once

#include <torch/torch.h>

#include <vector>

namespace fusebox::model {

// router_logits: one [batch * seq, num_experts] tensor per sparse layer, in layer order (the
// raw gate outputs, before any softmax). Over all layers' tokens together:
//   p = softmax(logits)                       (in the logits' dtype, as transformers does)
//   f[j][e] = share of tokens whose j-th top-k pick is expert e      [top_k, num_experts]
//   P[e] = mean over tokens of p[:, e]                               [num_experts]
//   loss = num_experts * sum_{j,e} f[j][e] * P[e]
// Only P carries a gradient. A perfectly balanced router gives top_k.
// attention_mask: optional [batch, seq], nonzero for real tokens; when given, padding tokens
// are left out of both means (transformers' masked branch). Returns a scalar, fp32 for fp32
// or bf16/fp16 logits (0 when router_logits is empty: no sparse layer ran).
torch::Tensor load_balancing_loss(const std::vector<torch::Tensor>& router_logits,
                                  int64_t num_experts, int64_t top_k,
                                  const torch::Tensor& attention_mask = {});

}  // namespace fusebox::model
