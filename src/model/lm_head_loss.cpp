#include "model/lm_head_loss.h"

#include "model/loss.h"

namespace fusebox::model {

torch::Tensor lm_head_loss_reference(const torch::Tensor& hidden, const torch::Tensor& weight,
                                     const torch::Tensor& labels, double normalizer) {
  return causal_lm_loss(torch::linear(hidden, weight), labels, normalizer);
}

torch::Tensor LMHeadLossImpl::forward(const torch::Tensor& hidden, const torch::Tensor& weight,
                                      const torch::Tensor& labels, double normalizer) {
  if (auto kernel = kernel_forward()) return kernel(*this, hidden, weight, labels, normalizer);
  return reference_forward(hidden, weight, labels, normalizer);
}

torch::Tensor LMHeadLossImpl::reference_forward(const torch::Tensor& hidden,
                                                const torch::Tensor& weight,
                                                const torch::Tensor& labels,
                                                double normalizer) const {
  return lm_head_loss_reference(hidden, weight, labels, normalizer);
}

}  // namespace fusebox::model
