// Architecture of a Qwen3 model: the fields of transformers' Qwen3Config that change the
// math. Torch-free so config readers need not include torch.
#pragma once

#include <cstdint>
#include <string>

namespace fusebox::model {

struct Qwen3Config {
  std::string model_type = "qwen3";
  int64_t vocab_size = 151936;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 22016;
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

  // Throws fusebox::ConfigError naming the field and what was expected: positive sizes,
  // heads divisible by kv heads, even head_dim, supported activation.
  void validate(const std::string& source) const;
  // "qwen3: 2 layers, hidden 128, heads 4/2 x 32, mlp 384, vocab 259"
  std::string describe() const;
};

}  // namespace fusebox::model
