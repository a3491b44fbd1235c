#include "model/loss.h"

namespace fusebox::model {

torch::Tensor causal_lm_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                             double normalizer) {
  auto v = logits.size(-1);
  auto shift_logits = logits.slice(1, 0, -1).to(torch::kFloat32).reshape({-1, v});
  auto shift_labels = labels.slice(1, 1).reshape({-1}).to(logits.device());
  auto sum = torch::nn::functional::cross_entropy(shift_logits, shift_labels,
                                                  torch::nn::functional::CrossEntropyFuncOptions()
                                                      .ignore_index(kIgnoreIndex)
                                                      .reduction(torch::kSum));
  if (normalizer <= 0) normalizer = static_cast<double>(count_label_tokens(labels));
  return sum / std::max(normalizer, 1.0);
}

int64_t count_label_tokens(const torch::Tensor& labels) {
  return labels.slice(1, 1).ne(kIgnoreIndex).sum().item<int64_t>();
}

}  // namespace fusebox::model
