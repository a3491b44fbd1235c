// Qwen3MoeSparseMoeBlock, kernelizable as layer "MoE": a linear router (`gate`) picks the
// top-k of `num_experts` SwiGLU experts per token and mixes their outputs with the routing
// weights. Module names are transformers' checkpoint keys: mlp.gate.weight and
// mlp.experts.{e}.{gate,up,down}_proj.weight (transformers 5.x fuses the experts into 3-D
// tensors in memory, but checkpoints on disk keep these per-expert names).
#pragma once

#include <torch/torch.h>

#include <tuple>

#include "kernels/kernelizable.h"
#include "model/mlp.h"
#include "model/qwen3_config.h"

namespace fusebox::model {

class Qwen3MoeSparseMoeBlockImpl;

struct MoELayer {
  static constexpr const char* kName = "MoE";
  // hidden: [batch, seq, hidden]. Returns (output [batch, seq, hidden] in hidden's dtype,
  // router_logits [batch * seq, num_experts] in hidden's dtype, before any softmax). The
  // router logits feed the load-balancing loss, so a kernel must return them with their
  // gradient path to gate.weight intact.
  using Forward = std::tuple<torch::Tensor, torch::Tensor> (*)(
      const Qwen3MoeSparseMoeBlockImpl& layer, const torch::Tensor& hidden);
};

// The router's choice for each token: weights [tokens, top_k] in the activations' dtype and
// expert ids int64 [tokens, top_k], best first.
struct MoeRouting {
  torch::Tensor weights;
  torch::Tensor experts;
};

// transformers' routing: softmax over all experts in fp32, top-k, renormalised to sum to 1
// when norm_topk_prob, then cast to `dtype`. Shared with kernels so they route identically.
MoeRouting route_top_k(const torch::Tensor& router_logits, int64_t top_k, bool norm_topk_prob,
                       torch::ScalarType dtype);

class Qwen3MoeSparseMoeBlockImpl : public torch::nn::Module, public kernels::KernelSlot<MoELayer> {
 public:
  explicit Qwen3MoeSparseMoeBlockImpl(const Qwen3Config& config);

  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& hidden);
  // transformers' per-expert loop: each expert that received tokens runs on exactly those
  // tokens (through its own forward, so MLP kernels apply), scaled by their routing weight
  // and index_add-ed into a zero output in expert order.
  std::tuple<torch::Tensor, torch::Tensor> reference_forward(const torch::Tensor& hidden) const;

  int64_t hidden_size() const { return hidden_size_; }
  int64_t num_experts() const { return num_experts_; }
  int64_t top_k() const { return top_k_; }
  int64_t expert_intermediate_size() const { return expert_intermediate_size_; }
  bool norm_topk_prob() const { return norm_topk_prob_; }
  Qwen3MLPImpl& expert(int64_t index) const;

  torch::nn::Linear gate{nullptr};         // hidden -> num_experts, no bias
  torch::nn::ModuleList experts{nullptr};  // num_experts x Qwen3MLP(hidden, moe_intermediate)

 private:
  int64_t hidden_size_;
  int64_t num_experts_;
  int64_t top_k_;
  int64_t expert_intermediate_size_;
  bool norm_topk_prob_;
};
TORCH_MODULE(Qwen3MoeSparseMoeBlock);

}  // namespace fusebox::model
