#include "model/qwen3_config.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::model {
namespace {

void require_positive(const std::string& source, const char* field, int64_t value) {
  if (value <= 0)
    throw ConfigError(str(source, ": '", field, "' must be a positive integer, got ", value));
}

void validate_moe(const std::string& source, const Qwen3Config& c) {
  if (c.num_experts < 0)
    throw ConfigError(str(source, ": 'num_experts' must be >= 0, got ", c.num_experts));
  if (c.decoder_sparse_step < 1) {
    // transformers takes (i + 1) % decoder_sparse_step: 0 would divide by zero there.
    throw ConfigError(
        str(source, ": 'decoder_sparse_step' must be >= 1, got ", c.decoder_sparse_step));
  }
  for (int64_t layer : c.mlp_only_layers) {
    if (layer < 0 || layer >= c.num_hidden_layers) {
      throw ConfigError(str(source, ": 'mlp_only_layers' holds layer ", layer,
                            ", outside [0, num_hidden_layers = ", c.num_hidden_layers, ")"));
    }
  }
  if (!std::isfinite(c.router_aux_loss_coef)) {
    throw ConfigError(
        str(source, ": 'router_aux_loss_coef' must be finite, got ", c.router_aux_loss_coef));
  }
  if (c.num_experts == 0) return;  // every layer is dense: the routing fields are unused
  if (c.num_experts_per_tok < 1 || c.num_experts_per_tok > c.num_experts) {
    throw ConfigError(str(source, ": 'num_experts_per_tok' must be in [1, num_experts = ",
                          c.num_experts, "], got ", c.num_experts_per_tok));
  }
  require_positive(source, "moe_intermediate_size", c.moe_intermediate_size);
}

}  // namespace

bool Qwen3Config::is_sparse_layer(int64_t index) const {
  if (!is_moe()) return false;
  bool listed_dense =
      std::find(mlp_only_layers.begin(), mlp_only_layers.end(), index) != mlp_only_layers.end();
  return !listed_dense && num_experts > 0 && decoder_sparse_step > 0 &&
         (index + 1) % decoder_sparse_step == 0;
}

int64_t Qwen3Config::num_sparse_layers() const {
  int64_t n = 0;
  for (int64_t i = 0; i < num_hidden_layers; ++i)
    n += is_sparse_layer(i) ? 1 : 0;
  return n;
}

void Qwen3Config::validate(const std::string& source) const {
  if (model_type != "qwen3" && model_type != "qwen3_moe") {
    throw ConfigError(str(source, ": model_type '", model_type,
                          "' is not supported; expected 'qwen3' or 'qwen3_moe'"));
  }
  require_positive(source, "vocab_size", vocab_size);
  require_positive(source, "hidden_size", hidden_size);
  require_positive(source, "intermediate_size", intermediate_size);
  require_positive(source, "num_hidden_layers", num_hidden_layers);
  require_positive(source, "num_attention_heads", num_attention_heads);
  require_positive(source, "num_key_value_heads", num_key_value_heads);
  require_positive(source, "head_dim", head_dim);
  require_positive(source, "max_position_embeddings", max_position_embeddings);
  if (num_attention_heads % num_key_value_heads != 0) {
    throw ConfigError(str(source, ": num_attention_heads (", num_attention_heads,
                          ") must be a multiple of num_key_value_heads (", num_key_value_heads,
                          ")"));
  }
  if (head_dim % 2 != 0)
    throw ConfigError(str(source, ": head_dim must be even for RoPE, got ", head_dim));
  if (!(rope_theta > 0)) throw ConfigError(str(source, ": rope_theta must be > 0"));
  if (!(rms_norm_eps > 0)) throw ConfigError(str(source, ": rms_norm_eps must be > 0"));
  if (!(initializer_range > 0)) throw ConfigError(str(source, ": initializer_range must be > 0"));
  if (hidden_act != "silu") {
    throw ConfigError(
        str(source, ": hidden_act '", hidden_act, "' is not supported; Qwen3 uses 'silu'"));
  }
  if (is_moe()) validate_moe(source, *this);
}

std::string Qwen3Config::describe() const {
  std::string layers = str(num_hidden_layers, " layers");
  std::string moe;
  if (is_moe()) {
    layers += str(" (", num_sparse_layers(), " sparse)");
    moe = str(", experts ", num_experts, " top-", num_experts_per_tok, " x ", moe_intermediate_size,
              norm_topk_prob ? " normalised" : "");
    if (output_router_logits) moe += str(", aux loss ", router_aux_loss_coef);
  }
  return str(model_type, ": ", layers, ", hidden ", hidden_size, ", heads ", num_attention_heads,
             "/", num_key_value_heads, " x ", head_dim, ", mlp ", intermediate_size, moe,
             ", vocab ", vocab_size, tie_word_embeddings ? ", tied" : "");
}

}  // namespace fusebox::model
