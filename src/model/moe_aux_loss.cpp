#include "model/moe_aux_loss.h"

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::model {

torch::Tensor load_balancing_loss(const std::vector<torch::Tensor>& router_logits,
                                  int64_t num_experts, int64_t top_k,
                                  const torch::Tensor& attention_mask) {
  if (router_logits.empty()) return torch::scalar_tensor(0.0, torch::kFloat32);
  auto device = router_logits.front().device();
  std::vector<torch::Tensor> on_device;
  for (const auto& logits : router_logits) {
    TORCH_CHECK(logits.dim() == 2 && logits.size(1) == num_experts,
                "load_balancing_loss: expected router logits [tokens, ", num_experts, "], got ",
                logits.sizes());
    on_device.push_back(logits.to(device));
  }
  auto logits = torch::cat(on_device, 0);  // [layers * tokens, experts]
  // No dtype argument: transformers takes this softmax in the logits' own dtype (unlike the
  // routing softmax of the forward, which is fp32). Identical for fp32 models.
  auto probs = torch::softmax(logits, -1);
  auto selected = std::get<1>(torch::topk(probs, top_k, -1));
  auto expert_mask = torch::one_hot(selected, num_experts).to(torch::kFloat32);  // [T, k, E]

  torch::Tensor tokens_per_expert, prob_per_expert;
  if (!attention_mask.defined()) {
    tokens_per_expert = expert_mask.mean(0);  // [k, E]
    prob_per_expert = probs.mean(0);          // [E]
  } else {
    TORCH_CHECK(attention_mask.dim() == 2, "load_balancing_loss: expected attention_mask ",
                "[batch, seq], got ", attention_mask.sizes());
    auto b = attention_mask.size(0), s = attention_mask.size(1);
    TORCH_CHECK(b * s > 0 && logits.size(0) % (b * s) == 0, "load_balancing_loss: ", logits.size(0),
                " router rows are not a whole number of layers x attention_mask ",
                attention_mask.sizes());
    int64_t layers = logits.size(0) / (b * s);
    // The mask is repeated per layer, in the order the logits were concatenated, and keeps
    // its own dtype: type promotion then does what it does in transformers (the counts are
    // exact integer sums).
    auto mask = attention_mask.to(device);
    auto expert_attention_mask = mask.reshape({1, b, s, 1, 1})
                                     .expand({layers, b, s, top_k, num_experts})
                                     .reshape({-1, top_k, num_experts});
    tokens_per_expert = (expert_mask * expert_attention_mask).sum(0) / expert_attention_mask.sum(0);
    auto router_attention_mask =
        mask.reshape({1, b, s, 1}).expand({layers, b, s, num_experts}).reshape({-1, num_experts});
    prob_per_expert = (probs * router_attention_mask).sum(0) / router_attention_mask.sum(0);
  }
  auto loss = torch::sum(tokens_per_expert * prob_per_expert.unsqueeze(0));
  return loss * static_cast<double>(num_experts);
}

}  // namespace fusebox::model
