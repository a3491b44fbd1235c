// Qwen3DecoderLayer / Qwen3MoeDecoderLayer: pre-norm attention and MLP blocks with residual
// connections. The MLP block is a dense Qwen3MLP or, in a sparse layer of a Qwen3-MoE model,
// a Qwen3MoeSparseMoeBlock; both are registered as "mlp", so the checkpoint keys are
// transformers' (layers.{i}.mlp.gate_proj.weight or layers.{i}.mlp.experts.{e}...).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/attention.h"
#include "model/mlp.h"
#include "model/moe.h"
#include "model/qwen3_config.h"
#include "model/rmsnorm.h"

namespace fusebox::model {

class Qwen3DecoderLayerImpl : public torch::nn::Module {
 public:
  // layer_index decides dense or sparse (Qwen3Config::is_sparse_layer).
  Qwen3DecoderLayerImpl(const Qwen3Config& config, int64_t layer_index);

  // hidden: [B, S, hidden]; position_ids: int64 [B, S]. A sparse layer appends its router
  // logits [B * S, num_experts] to *router_logits when that is not null.
  // With a cache, attention reads and extends it (see Qwen3AttentionImpl::forward).
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& position_ids,
                        std::vector<torch::Tensor>* router_logits = nullptr,
                        LayerKVCache* cache = nullptr, int64_t cache_length = 0);

  bool is_sparse() const { return static_cast<bool>(sparse_mlp); }

  Qwen3Attention self_attn{nullptr};
  // Exactly one of these is set; whichever it is, its module name is "mlp".
  Qwen3MLP mlp{nullptr};
  Qwen3MoeSparseMoeBlock sparse_mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(Qwen3DecoderLayer);

}  // namespace fusebox::model
