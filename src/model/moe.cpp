#include "model/moe.h"

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::model {

MoeRouting route_top_k(const torch::Tensor& router_logits, int64_t top_k, bool norm_topk_prob,
                       torch::ScalarType dtype) {
  auto probs = torch::softmax(router_logits, /*dim=*/1, torch::kFloat32);
  auto [weights, experts] = torch::topk(probs, top_k, /*dim=*/-1);
  // Renormalising after the softmax over ALL experts keeps the gradient flowing to the
  // logits of the experts that were not chosen (through the softmax denominator).
  if (norm_topk_prob) weights = weights / weights.sum(-1, /*keepdim=*/true);
  return {weights.to(dtype), experts};
}

Qwen3MoeSparseMoeBlockImpl::Qwen3MoeSparseMoeBlockImpl(const Qwen3Config& c)
    : hidden_size_(c.hidden_size),
      num_experts_(c.num_experts),
      top_k_(c.num_experts_per_tok),
      expert_intermediate_size_(c.moe_intermediate_size),
      norm_topk_prob_(c.norm_topk_prob) {
  if (num_experts_ < 1 || top_k_ < 1 || top_k_ > num_experts_) {
    throw ConfigError(str("Qwen3MoeSparseMoeBlock: expected 1 <= num_experts_per_tok (", top_k_,
                          ") <= num_experts (", num_experts_, ")"));
  }
  gate = register_module(
      "gate", torch::nn::Linear(torch::nn::LinearOptions(hidden_size_, num_experts_).bias(false)));
  experts = register_module("experts", torch::nn::ModuleList());
  for (int64_t e = 0; e < num_experts_; ++e)
    experts->push_back(Qwen3MLP(hidden_size_, expert_intermediate_size_));
}

Qwen3MLPImpl& Qwen3MoeSparseMoeBlockImpl::expert(int64_t index) const {
  return *experts->ptr<Qwen3MLPImpl>(static_cast<size_t>(index));
}

std::tuple<torch::Tensor, torch::Tensor> Qwen3MoeSparseMoeBlockImpl::forward(
    const torch::Tensor& hidden) {
  if (auto kernel = kernel_forward()) return kernel(*this, hidden);
  return reference_forward(hidden);
}

std::tuple<torch::Tensor, torch::Tensor> Qwen3MoeSparseMoeBlockImpl::reference_forward(
    const torch::Tensor& hidden) const {
  TORCH_CHECK(hidden.dim() == 3 && hidden.size(2) == hidden_size_,
              "Qwen3MoeSparseMoeBlock: expected hidden states [batch, seq, ", hidden_size_,
              "], got ", hidden.sizes());
  auto b = hidden.size(0), s = hidden.size(1);
  auto x = hidden.reshape({-1, hidden_size_});
  auto router_logits = torch::linear(x, gate->weight);  // [tokens, experts]
  auto routing = route_top_k(router_logits, top_k_, norm_topk_prob_, x.scalar_type());

  auto out = torch::zeros_like(x);
  // [experts, top_k, tokens]: row e marks, per top-k slot, the tokens that chose expert e.
  auto expert_mask = torch::one_hot(routing.experts, num_experts_).permute({2, 1, 0});
  // One host sync for the whole loop instead of one per expert.
  auto tokens_per_expert = expert_mask.sum({1, 2}).to(torch::kCPU);
  auto counts = tokens_per_expert.accessor<int64_t, 1>();
  for (int64_t e = 0; e < num_experts_; ++e) {
    if (counts[e] == 0) continue;  // transformers skips experts that got no token
    auto where = torch::where(expert_mask[e]);
    const auto& slot = where[0];   // which of the token's top-k picks this is
    const auto& token = where[1];  // which token
    auto expert_out = expert(e).forward(x.index({token}));
    auto weighted = expert_out * routing.weights.index({token, slot}).unsqueeze(-1);
    out.index_add_(0, token, weighted.to(x.scalar_type()));
  }
  return {out.reshape({b, s, hidden_size_}), router_logits};
}

}  // namespace fusebox::model
