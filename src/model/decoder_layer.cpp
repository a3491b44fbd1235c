#include "model/decoder_layer.h"

namespace fusebox::model {

Qwen3DecoderLayerImpl::Qwen3DecoderLayerImpl(const Qwen3Config& c) {
  self_attn = register_module("self_attn", Qwen3Attention(c));
  mlp = register_module("mlp", Qwen3MLP(c.hidden_size, c.intermediate_size));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor Qwen3DecoderLayerImpl::forward(const torch::Tensor& hidden,
                                             const torch::Tensor& position_ids) {
  auto h = hidden + self_attn(input_layernorm(hidden), position_ids);
  return h + mlp(post_attention_layernorm(h));
}

}  // namespace fusebox::model
