// Qwen3Model and Qwen3ForCausalLM. Module and parameter names follow transformers
// ("model.layers.0.self_attn.q_proj.weight", "lm_head.weight") so checkpoints map 1:1.
#pragma once

#include <torch/torch.h>

#include "model/decoder_layer.h"
#include "model/qwen3_config.h"
#include "model/rmsnorm.h"

namespace fusebox::model {

class Qwen3ModelImpl : public torch::nn::Module {
 public:
  explicit Qwen3ModelImpl(const Qwen3Config& config);

  // input_ids: int64 [B, S] -> final hidden states [B, S, hidden].
  torch::Tensor forward(const torch::Tensor& input_ids);

  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(Qwen3Model);

struct CausalLMOutput {
  torch::Tensor logits;  // [B, S, vocab]
  torch::Tensor loss;    // scalar; undefined when no labels were given
};

class Qwen3ForCausalLMImpl : public torch::nn::Module {
 public:
  explicit Qwen3ForCausalLMImpl(const Qwen3Config& config);

  // labels: [B, S] or undefined; loss_normalizer as in causal_lm_loss().
  CausalLMOutput forward(const torch::Tensor& input_ids, const torch::Tensor& labels = {},
                         double loss_normalizer = 0);

  // The output projection's weight: lm_head's own, or embed_tokens' when tied.
  const torch::Tensor& lm_head_weight() const;
  const Qwen3Config& config() const { return config_; }

  // transformers' _init_weights: Linear and Embedding ~ N(0, initializer_range), biases 0,
  // norms 1. Deterministic under torch::manual_seed.
  void init_weights();

  Qwen3Model model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tie_word_embeddings

 private:
  Qwen3Config config_;
};
TORCH_MODULE(Qwen3ForCausalLM);

}  // namespace fusebox::model
