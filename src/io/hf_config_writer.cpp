#include "io/hf_config_writer.h"

#include <nlohmann/json.hpp>

namespace fusebox::io {

std::string hf_config_to_json(const model::Qwen3Config& c, const std::string& torch_dtype) {
  nlohmann::json j;  // std::map-backed: keys sorted, like transformers' to_json_string
  j["architectures"] =
      nlohmann::json::array({c.is_moe() ? "Qwen3MoeForCausalLM" : "Qwen3ForCausalLM"});
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["hidden_act"] = c.hidden_act;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["initializer_range"] = c.initializer_range;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["attention_bias"] = c.attention_bias;
  j["attention_dropout"] = 0.0;  // fusebox has no attention dropout
  j["use_cache"] = true;
  // Full attention in every layer, spelled the way Qwen3's own config.json does.
  j["use_sliding_window"] = false;
  j["sliding_window"] = nullptr;
  j["max_window_layers"] = c.num_hidden_layers;
  // transformers 4.x reads the top-level rope_theta; 5.x reads rope_parameters (and writes
  // only that). Both are written so either version loads the same RoPE.
  j["rope_theta"] = c.rope_theta;
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", c.rope_theta}};
  j["torch_dtype"] = torch_dtype;  // transformers < 4.56
  j["dtype"] = torch_dtype;        // transformers >= 4.56
  if (c.is_moe()) {
    j["num_experts"] = c.num_experts;
    j["num_experts_per_tok"] = c.num_experts_per_tok;
    j["moe_intermediate_size"] = c.moe_intermediate_size;
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["decoder_sparse_step"] = c.decoder_sparse_step;
    j["mlp_only_layers"] = c.mlp_only_layers;
    j["output_router_logits"] = c.output_router_logits;
    j["router_aux_loss_coef"] = c.router_aux_loss_coef;
  }
  return j.dump(2) + "\n";
}

}  // namespace fusebox::io
