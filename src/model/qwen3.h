// Qwen3Model and Qwen3ForCausalLM, for dense Qwen3 and Qwen3-MoE alike (config.model_type
// decides; a Qwen3-MoE model differs only in its sparse layers' MLP block and the router's
// auxiliary loss). Module and parameter names follow transformers
// ("model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.experts.3.up_proj.weight",
// "lm_head.weight") so checkpoints map 1:1.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/decoder_layer.h"
#include "model/kv_cache.h"
#include "model/lm_head_loss.h"
#include "model/qwen3_config.h"
#include "model/rmsnorm.h"

namespace fusebox::model {

class Qwen3ModelImpl : public torch::nn::Module {
 public:
  explicit Qwen3ModelImpl(const Qwen3Config& config);

  // input_ids: int64 [B, S] -> final hidden states [B, S, hidden]. When router_logits is not
  // null, each sparse layer appends its router logits [B * S, num_experts] in layer order.
  torch::Tensor forward(const torch::Tensor& input_ids,
                        std::vector<torch::Tensor>* router_logits = nullptr);
  // Incremental decoding: input_ids [B, S] take positions cache.length() onwards; every
  // layer's keys/values are appended to `cache`, which then advances by S.
  torch::Tensor forward(const torch::Tensor& input_ids, KVCache& cache);

  // transformers' gradient_checkpointing: with autograd recording, each decoder layer keeps
  // only its input and recomputes its forward during the backward (activation_checkpoint.h).
  void set_activation_checkpointing(bool on) { activation_checkpointing_ = on; }
  bool activation_checkpointing() const { return activation_checkpointing_; }

  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};

 private:
  bool activation_checkpointing_ = false;
};
TORCH_MODULE(Qwen3Model);

struct CausalLMOutput {
  // [B, S, vocab]. UNDEFINED when labels were given and loss_head has a fused kernel
  // installed: the kernel computes the loss (and its gradients) without materialising the
  // [tokens x vocab] logits -- that is its point. A caller that needs logits calls forward
  // without labels (and causal_lm_loss() on them if it also wants the loss).
  torch::Tensor logits;
  // Scalar; undefined when no labels were given. For Qwen3-MoE with output_router_logits it
  // is the LM loss + router_aux_loss_coef * aux_loss, as transformers returns it.
  torch::Tensor loss;
  // The unscaled load-balancing loss (load_balancing_loss()); defined only for a Qwen3-MoE
  // model with output_router_logits, whether or not labels were given.
  torch::Tensor aux_loss;
  // Each sparse layer's router logits [B * S, num_experts], in layer order; filled exactly
  // when aux_loss is.
  std::vector<torch::Tensor> router_logits;
};

class Qwen3ForCausalLMImpl : public torch::nn::Module {
 public:
  explicit Qwen3ForCausalLMImpl(const Qwen3Config& config);

  // labels: [B, S] or undefined; loss_normalizer as in causal_lm_loss(). With labels and a
  // kernel in loss_head, out.logits is left undefined (see CausalLMOutput). attention_mask:
  // optional [B, S], nonzero on real tokens; only the MoE load-balancing loss reads it
  // (attention is causal and padding sits at the right, so no real token sees a pad).
  CausalLMOutput forward(const torch::Tensor& input_ids, const torch::Tensor& labels = {},
                         double loss_normalizer = 0, const torch::Tensor& attention_mask = {});

  // Logits of the last position only, fp32 [B, vocab], for incremental decoding with `cache`
  // (see Qwen3ModelImpl::forward with a cache). No loss, no router logits.
  torch::Tensor next_token_logits(const torch::Tensor& input_ids, KVCache& cache);

  // The output projection's weight: lm_head's own, or embed_tokens' when tied.
  const torch::Tensor& lm_head_weight() const;
  const Qwen3Config& config() const { return config_; }

  // transformers' _init_weights: Linear and Embedding ~ N(0, initializer_range), biases 0,
  // norms 1. The MoE router (`gate`) and the experts are Linears too, as in 4.5x (5.x draws
  // its fused expert tensors and router weight from the same N(0, initializer_range)).
  // Deterministic under torch::manual_seed.
  void init_weights();

  Qwen3Model model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tie_word_embeddings
  // Projection + loss as one kernelizable layer; no parameters (it reads lm_head_weight()).
  LMHeadLoss loss_head{nullptr};

 private:
  Qwen3Config config_;
};
TORCH_MODULE(Qwen3ForCausalLM);

}  // namespace fusebox::model
