// Architecture of a Qwen3 or Qwen3-MoE model: the fields of transformers' Qwen3Config and
// Qwen3MoeConfig that change the math. Torch-free so config readers need not include torch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fusebox::model {

struct Qwen3Config {
  std::string model_type = "qwen3";  // "qwen3" (dense) or "qwen3_moe"
  int64_t vocab_size = 151936;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 22016;  // the dense MLP's width (MoE: of the mlp_only layers)
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 32;
  int64_t head_dim = 128;  // from config; not hidden_size / heads in general
  int64_t max_position_embeddings = 32768;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  double initializer_range = 0.02;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  std::string hidden_act = "silu";

  // Qwen3-MoE (model_type "qwen3_moe"); ignored for dense "qwen3".
  int64_t num_experts = 0;               // 0 = no sparse layer
  int64_t num_experts_per_tok = 0;       // top-k
  int64_t moe_intermediate_size = 0;     // each expert's SwiGLU width
  bool norm_topk_prob = false;           // renormalise the top-k routing weights to sum to 1
  int64_t decoder_sparse_step = 1;       // layer i is sparse when (i + 1) % step == 0 ...
  std::vector<int64_t> mlp_only_layers;  // ... and i is not listed here
  bool output_router_logits = false;     // add the load-balancing loss to the training loss
  double router_aux_loss_coef = 0.001;

  bool is_moe() const { return model_type == "qwen3_moe"; }
  // Whether decoder layer `index` uses the sparse MoE block. transformers'
  // Qwen3MoeDecoderLayer rule: not in mlp_only_layers, num_experts > 0 and
  // (index + 1) % decoder_sparse_step == 0. Always false for a dense "qwen3" model.
  bool is_sparse_layer(int64_t index) const;
  int64_t num_sparse_layers() const;

  // Throws fusebox::ConfigError naming the field and what was expected: positive sizes,
  // heads divisible by kv heads, even head_dim, supported activation; for qwen3_moe also
  // top-k in [1, num_experts], a positive expert width, decoder_sparse_step >= 1 and
  // mlp_only_layers inside [0, num_hidden_layers).
  void validate(const std::string& source) const;
  // "qwen3: 2 layers, hidden 128, heads 4/2 x 32, mlp 384, vocab 259"
  // "qwen3_moe: 2 layers (1 sparse), hidden 128, heads 4/2 x 32, mlp 384, experts 8 top-2 x 64
  //  normalised, aux loss 0.001, vocab 259, tied"
  std::string describe() const;
};

}  // namespace fusebox::model
