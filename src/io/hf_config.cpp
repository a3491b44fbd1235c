#include "io/hf_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::io {
namespace {

using nlohmann::json;

template <typename T>
void read_field(const json& j, const std::string& source, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;  // keep the default
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    throw ConfigError(str(source, ": key '", key, "' has the wrong type (got ", it->dump(), ")"));
  }
}

// An integer-valued field must be an integer in JSON (5.0 is accepted, 5.5 is not).
void read_int(const json& j, const std::string& source, const char* key, int64_t& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (it->is_number_integer()) {
    out = it->get<int64_t>();
  } else if (it->is_number_float() &&
             it->get<double>() == static_cast<int64_t>(it->get<double>())) {
    out = static_cast<int64_t>(it->get<double>());
  } else {
    throw ConfigError(str(source, ": key '", key, "' must be an integer, got ", it->dump()));
  }
}

void check_rope(const json& j, const std::string& source, model::Qwen3Config& c) {
  // transformers 5.x: "rope_parameters": {"rope_type": "default", "rope_theta": ...};
  // 4.5x: "rope_theta" at top level and optional "rope_scaling".
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_object()) throw ConfigError(str(source, ": '", key, "' must be an object"));
    std::string type = it->value("rope_type", it->value("type", std::string("default")));
    if (type != "default") {
      throw ConfigError(str(source, ": ", key, ".rope_type '", type,
                            "' is not supported; fusebox implements the default RoPE only"));
    }
    if (it->contains("rope_theta")) read_field(*it, source + " " + key, "rope_theta", c.rope_theta);
  }
}

// Fields transformers has but fusebox does not implement: refused when they would change
// the math, never ignored.
void check_unsupported(const json& j, const std::string& source, const model::Qwen3Config& c) {
  if (c.attention_bias) {
    throw ConfigError(str(source, ": attention_bias=true is not supported (Qwen3 has none)"));
  }
  if (j.contains("use_sliding_window") && j["use_sliding_window"].is_boolean() &&
      j["use_sliding_window"].get<bool>()) {
    throw ConfigError(str(source, ": use_sliding_window=true is not supported"));
  }
  double dropout = 0.0;
  read_field(j, source, "attention_dropout", dropout);
  if (dropout != 0.0) {
    throw ConfigError(str(source, ": attention_dropout=", dropout,
                          " is not supported; expected 0 (fusebox has no attention dropout)"));
  }
}

// transformers' defaults for what a config.json leaves out; they differ between the two
// model types (Qwen3Config vs Qwen3MoeConfig).
model::Qwen3Config defaults_for(const std::string& model_type) {
  model::Qwen3Config c;  // the struct's defaults are Qwen3Config's
  c.model_type = model_type;
  if (model_type == "qwen3_moe") {
    c.hidden_size = 2048;
    c.intermediate_size = 6144;
    c.num_hidden_layers = 24;
    c.num_attention_heads = 32;
    c.num_key_value_heads = 4;
    c.num_experts = 128;
    c.num_experts_per_tok = 8;
    c.moe_intermediate_size = 768;
    c.norm_topk_prob = false;
    c.decoder_sparse_step = 1;
    c.output_router_logits = false;
    c.router_aux_loss_coef = 0.001;
  }
  return c;
}

void read_moe_fields(const json& j, const std::string& source, model::Qwen3Config& c) {
  // 5.x's Qwen3MoeConfig maps the attribute num_experts to num_local_experts, so a config
  // it saved may carry either name.
  read_int(j, source, "num_experts", c.num_experts);
  if (j.contains("num_local_experts") && !j["num_local_experts"].is_null()) {
    int64_t local = c.num_experts;
    read_int(j, source, "num_local_experts", local);
    if (j.contains("num_experts") && !j["num_experts"].is_null() && local != c.num_experts) {
      throw ConfigError(str(source, ": 'num_experts' (", c.num_experts,
                            ") and 'num_local_experts' (", local, ") disagree"));
    }
    c.num_experts = local;
  }
  read_int(j, source, "num_experts_per_tok", c.num_experts_per_tok);
  read_int(j, source, "moe_intermediate_size", c.moe_intermediate_size);
  read_field(j, source, "norm_topk_prob", c.norm_topk_prob);
  read_int(j, source, "decoder_sparse_step", c.decoder_sparse_step);
  read_field(j, source, "output_router_logits", c.output_router_logits);
  read_field(j, source, "router_aux_loss_coef", c.router_aux_loss_coef);
  auto it = j.find("mlp_only_layers");
  if (it != j.end() && !it->is_null()) {
    if (!it->is_array()) {
      throw ConfigError(
          str(source, ": key 'mlp_only_layers' must be a list of layer indices, got ", it->dump()));
    }
    c.mlp_only_layers.clear();
    for (const auto& v : *it) {
      if (!v.is_number_integer()) {
        throw ConfigError(
            str(source, ": key 'mlp_only_layers' must hold integers, got ", it->dump()));
      }
      c.mlp_only_layers.push_back(v.get<int64_t>());
    }
  }
}

}  // namespace

model::Qwen3Config parse_hf_config(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw ConfigError(str(source, ": invalid JSON: ", e.what()));
  }
  if (!j.is_object()) throw ConfigError(str(source, ": expected a JSON object at top level"));
  std::string model_type = "qwen3";
  read_field(j, source, "model_type", model_type);
  if (model_type != "qwen3" && model_type != "qwen3_moe") {
    throw ConfigError(str(source, ": model_type '", model_type,
                          "' is not supported; expected 'qwen3' or 'qwen3_moe'"));
  }
  model::Qwen3Config c = defaults_for(model_type);
  read_int(j, source, "vocab_size", c.vocab_size);
  read_int(j, source, "hidden_size", c.hidden_size);
  read_int(j, source, "intermediate_size", c.intermediate_size);
  read_int(j, source, "num_hidden_layers", c.num_hidden_layers);
  read_int(j, source, "num_attention_heads", c.num_attention_heads);
  // Qwen3Config turns an explicit null into num_attention_heads; Qwen3MoeConfig has no such
  // rule, and null keeps its default.
  if (!c.is_moe() && j.contains("num_key_value_heads") && j["num_key_value_heads"].is_null())
    c.num_key_value_heads = c.num_attention_heads;
  read_int(j, source, "num_key_value_heads", c.num_key_value_heads);
  // Qwen3Config defaults head_dim to 128; Qwen3MoeConfig has no head_dim field, and its
  // attention falls back to hidden_size / num_attention_heads.
  if (c.is_moe()) c.head_dim = c.hidden_size / std::max<int64_t>(c.num_attention_heads, 1);
  read_int(j, source, "head_dim", c.head_dim);
  read_int(j, source, "max_position_embeddings", c.max_position_embeddings);
  read_field(j, source, "rope_theta", c.rope_theta);
  check_rope(j, source, c);
  read_field(j, source, "rms_norm_eps", c.rms_norm_eps);
  read_field(j, source, "initializer_range", c.initializer_range);
  read_field(j, source, "tie_word_embeddings", c.tie_word_embeddings);
  read_field(j, source, "attention_bias", c.attention_bias);
  read_field(j, source, "hidden_act", c.hidden_act);
  // "torch_dtype" (4.5x) and "dtype" (5.x) name the checkpoint's storage dtype; neither
  // changes the architecture, so both are accepted and left to the checkpoint reader.
  check_unsupported(j, source, c);
  // A dense "qwen3" config has no MoE fields in transformers; stray ones are ignored there.
  if (c.is_moe()) read_moe_fields(j, source, c);
  c.validate(source);
  return c;
}

model::Qwen3Config read_hf_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(str("cannot open model config '", path, "'"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_hf_config(buffer.str(), path);
}

std::string find_hf_config(const std::string& model_path) {
  namespace fs = std::filesystem;
  fs::path p(model_path);
  if (fs::is_directory(p)) {
    fs::path cfg = p / "config.json";
    if (!fs::exists(cfg))
      throw ConfigError(str("model directory '", model_path, "' has no config.json"));
    return cfg.string();
  }
  if (!fs::exists(p))
    throw ConfigError(str("model '", model_path,
                          "' does not exist; expected a config.json file or a model directory"));
  return p.string();
}

}  // namespace fusebox::io
