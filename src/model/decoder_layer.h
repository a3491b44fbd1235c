// Qwen3DecoderLayer: pre-norm attention and MLP blocks with residual connections.
#pragma once

#include <torch/torch.h>

#include "model/attention.h"
#include "model/mlp.h"
#include "model/qwen3_config.h"
#include "model/rmsnorm.h"

namespace fusebox::model {

class Qwen3DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit Qwen3DecoderLayerImpl(const Qwen3Config& config);

  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& position_ids);

  Qwen3Attention self_attn{nullptr};
  Qwen3MLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(Qwen3DecoderLayer);

}  // namespace fusebox::model
