#include "model/decoder_layer.h"

namespace fusebox::model {

Qwen3DecoderLayerImpl::Qwen3DecoderLayerImpl(const Qwen3Config& c, int64_t layer_index) {
  self_attn = register_module("self_attn", Qwen3Attention(c));
  if (c.is_sparse_layer(layer_index))
    sparse_mlp = register_module("mlp", Qwen3MoeSparseMoeBlock(c));
  else
    mlp = register_module("mlp", Qwen3MLP(c.hidden_size, c.intermediate_size));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor Qwen3DecoderLayerImpl::forward(const torch::Tensor& hidden,
                                             const torch::Tensor& position_ids,
                                             std::vector<torch::Tensor>* router_logits,
                                             LayerKVCache* cache, int64_t cache_length) {
  auto h = hidden + self_attn(input_layernorm(hidden), position_ids, cache, cache_length);
  auto x = post_attention_layernorm(h);
  if (!sparse_mlp) return h + mlp(x);
  auto [out, logits] = sparse_mlp(x);
  if (router_logits) router_logits->push_back(logits);
  return h + out;
}

}  // namespace fusebox::model
