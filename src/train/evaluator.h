// Held-out evaluation: mean token loss and perplexity on any dataset, plus the task metric
// (exact-match accuracy of greedy answers) for the built-in addition task.
#pragma once

#include <torch/torch.h>

#include <optional>

#include "data/dataset.h"
#include "model/qwen3.h"

namespace fusebox::train {

struct EvalResult {
  double loss = 0;
  double perplexity = 0;
  int64_t examples = 0;
  std::optional<double> exact_match;  // addition task only
};

// Runs without gradients and restores the model's train/eval mode afterwards.
EvalResult evaluate(model::Qwen3ForCausalLM& model, const data::Dataset& dataset,
                    int64_t batch_size, const torch::Device& device);

}  // namespace fusebox::train
