#include "model/qwen3_config.h"

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::model {
namespace {

void require_positive(const std::string& source, const char* field, int64_t value) {
  if (value <= 0)
    throw ConfigError(str(source, ": '", field, "' must be a positive integer, got ", value));
}

}  // namespace

void Qwen3Config::validate(const std::string& source) const {
  if (model_type != "qwen3") {
    throw ConfigError(
        str(source, ": model_type '", model_type, "' is not supported; expected 'qwen3'"));
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
}

std::string Qwen3Config::describe() const {
  return str(model_type, ": ", num_hidden_layers, " layers, hidden ", hidden_size, ", heads ",
             num_attention_heads, "/", num_key_value_heads, " x ", head_dim, ", mlp ",
             intermediate_size, ", vocab ", vocab_size, tie_word_embeddings ? ", tied" : "");
}

}  // namespace fusebox::model
