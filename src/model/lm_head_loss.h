// The output projection and next-token loss as one kernelizable layer, "LMHeadLoss".
//
// Its reference is exactly causal_lm_loss(linear(hidden, weight), labels, normalizer): the
// [tokens x vocab] logits are materialised, upcast to fp32 and reduced. A kernel may compute
// the same loss (and, through autograd, the same gradients for hidden and weight) without ever
// holding the full logits -- the largest activation of a small model with a large vocabulary.
//
// The layer has no parameters: the weight is passed in (lm_head's, or embed_tokens' when tied),
// so registering it in a model changes no checkpoint key.
#pragma once

#include <torch/torch.h>

#include "kernels/kernelizable.h"

namespace fusebox::model {

class LMHeadLossImpl;

struct LMHeadLossLayer {
  static constexpr const char* kName = "LMHeadLoss";
  // hidden [B, S, H], weight [V, H], labels int64 [B, S] -> scalar fp32 loss, as
  // causal_lm_loss() defines it (shifted, kIgnoreIndex skipped, normalizer <= 0 = mean).
  using Forward = torch::Tensor (*)(const LMHeadLossImpl& layer, const torch::Tensor& hidden,
                                    const torch::Tensor& weight, const torch::Tensor& labels,
                                    double normalizer);
};

// causal_lm_loss(torch::linear(hidden, weight), labels, normalizer).
torch::Tensor lm_head_loss_reference(const torch::Tensor& hidden, const torch::Tensor& weight,
                                     const torch::Tensor& labels, double normalizer);

class LMHeadLossImpl : public torch::nn::Module, public kernels::KernelSlot<LMHeadLossLayer> {
 public:
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& weight,
                        const torch::Tensor& labels, double normalizer = 0);
  torch::Tensor reference_forward(const torch::Tensor& hidden, const torch::Tensor& weight,
                                  const torch::Tensor& labels, double normalizer) const;
};
TORCH_MODULE(LMHeadLoss);

}  // namespace fusebox::model
