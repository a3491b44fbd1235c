// Next-token cross-entropy as transformers' ForCausalLMLoss computes it.
#pragma once

#include <torch/torch.h>

namespace fusebox::model {

constexpr int64_t kIgnoreIndex = -100;

// logits [B, S, V], labels [B, S] (kIgnoreIndex where nothing is learnt). Position t predicts
// labels[t + 1]; logits are upcast to fp32. Returns the SUM of token losses divided by
// `normalizer` (the number of label tokens; across gradient-accumulation micro-batches when
// given, as transformers does with num_items_in_batch). normalizer <= 0 means "this batch's
// label-token count", i.e. the mean.
torch::Tensor causal_lm_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                             double normalizer = 0);

// Label tokens that count toward the loss (labels shifted by one, ignore index excluded).
int64_t count_label_tokens(const torch::Tensor& labels);

}  // namespace fusebox::model
