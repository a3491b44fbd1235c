// Shared by the cuda_fused_moe tests: a case description, the block built for it, and one
// forward + backward that collects the outputs and every gradient.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "model/moe.h"

namespace fusebox::test {

// kStrided: the input is the first half of each row of a [1, tokens, 2 * hidden] buffer.
enum class MoeLayout { kContiguous, kStrided };
enum class MoeRouter { kRandom, kOneExpertTakesAll };

struct MoeCase {
  torch::ScalarType dtype;
  int64_t tokens;  // batch * seq; the input is [1, tokens, hidden]
  int64_t hidden;
  int64_t intermediate;
  int64_t experts;
  int64_t top_k;
  bool norm;
  MoeLayout layout = MoeLayout::kContiguous;
  MoeRouter router = MoeRouter::kRandom;
};

inline model::Qwen3Config moe_config(const MoeCase& c) {
  model::Qwen3Config config;
  config.model_type = "qwen3_moe";
  config.hidden_size = c.hidden;
  config.num_experts = c.experts;
  config.num_experts_per_tok = c.top_k;
  config.moe_intermediate_size = c.intermediate;
  config.norm_topk_prob = c.norm;
  return config;
}

// Weights ~ N(0, 1/fan_in) in fp32 on the CPU: activations and gradients are O(1), as the
// tolerance table assumes. The router is sharper (std 0.5) so that routing weights are far
// from uniform; kOneExpertTakesAll makes expert 2 everyone's first choice for positive inputs.
inline void init_moe_weights(model::Qwen3MoeSparseMoeBlock& block, const MoeCase& c) {
  torch::NoGradGuard no_grad;
  for (auto& p : block->parameters())
    p.copy_(torch::randn(p.sizes()) / std::sqrt(static_cast<double>(p.size(1))));
  block->gate->weight.normal_(0.0, 0.5);
  // The margin scales with 1/sqrt(hidden) so that it wins clearly but the other experts'
  // probabilities do not underflow to exact zeros, whose top-k order CPU and GPU break
  // differently (the second choice of a top-2 router would then differ between them).
  if (c.router == MoeRouter::kOneExpertTakesAll)
    block->gate->weight[2].abs_().add_(4.0 / std::sqrt(static_cast<double>(c.hidden)));
}

inline void copy_moe_weights(const torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto source = from.named_parameters();
  for (auto& p : to.named_parameters())
    p.value().copy_(source[p.key()]);
}

// fp32 on the CPU; callers move it where they need it.
inline torch::Tensor make_moe_input(const MoeCase& c) {
  int64_t width = c.layout == MoeLayout::kStrided ? 2 * c.hidden : c.hidden;
  auto x = torch::randn({1, c.tokens, width});
  return c.router == MoeRouter::kOneExpertTakesAll ? x.abs() : x;
}

struct MoeGrads {
  torch::Tensor out, logits, dx;
  std::vector<std::pair<std::string, torch::Tensor>> params;  // undefined: no gradient
};

// One forward (reference or installed kernel) and the backward of fixed random projections of
// both outputs, so every element of each has a gradient path (the logits' path to
// gate.weight included). For kStrided the block sees a non-contiguous view of `x`, and dx is
// the gradient of the whole buffer (zero outside the view in both paths).
inline MoeGrads run_moe(model::Qwen3MoeSparseMoeBlock& block, const torch::Tensor& x,
                        MoeLayout layout, const torch::Tensor& dy, const torch::Tensor& dlogits,
                        bool reference) {
  for (auto& p : block->parameters())
    p.mutable_grad() = torch::Tensor();
  auto leaf = x.detach().clone().requires_grad_(true);
  auto input = leaf;
  if (layout == MoeLayout::kStrided) {
    input = leaf.slice(2, 0, leaf.size(2) / 2);
    EXPECT_FALSE(input.is_contiguous());
  }
  auto [out, logits] = reference ? block->reference_forward(input) : block->forward(input);
  ((out * dy).sum() + (logits * dlogits).sum()).backward();
  MoeGrads g{out.detach(), logits.detach(), leaf.grad().clone(), {}};
  for (const auto& p : block->named_parameters()) {
    auto grad = p.value().grad();
    g.params.emplace_back(p.key(), grad.defined() ? grad.clone() : torch::Tensor());
  }
  return g;
}

}  // namespace fusebox::test
