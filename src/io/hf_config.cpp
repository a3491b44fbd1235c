#include "io/hf_config.h"

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

}  // namespace

model::Qwen3Config parse_hf_config(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw ConfigError(str(source, ": invalid JSON: ", e.what()));
  }
  if (!j.is_object()) throw ConfigError(str(source, ": expected a JSON object at top level"));
  model::Qwen3Config c;
  read_field(j, source, "model_type", c.model_type);
  if (c.model_type != "qwen3") {
    throw ConfigError(
        str(source, ": model_type '", c.model_type, "' is not supported; expected 'qwen3'"));
  }
  read_int(j, source, "vocab_size", c.vocab_size);
  read_int(j, source, "hidden_size", c.hidden_size);
  read_int(j, source, "intermediate_size", c.intermediate_size);
  read_int(j, source, "num_hidden_layers", c.num_hidden_layers);
  read_int(j, source, "num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = c.num_attention_heads;  // transformers' default when absent
  read_int(j, source, "num_key_value_heads", c.num_key_value_heads);
  c.head_dim = c.hidden_size / std::max<int64_t>(c.num_attention_heads, 1);
  read_int(j, source, "head_dim", c.head_dim);
  read_int(j, source, "max_position_embeddings", c.max_position_embeddings);
  read_field(j, source, "rope_theta", c.rope_theta);
  check_rope(j, source, c);
  read_field(j, source, "rms_norm_eps", c.rms_norm_eps);
  read_field(j, source, "initializer_range", c.initializer_range);
  read_field(j, source, "tie_word_embeddings", c.tie_word_embeddings);
  read_field(j, source, "attention_bias", c.attention_bias);
  read_field(j, source, "hidden_act", c.hidden_act);
  if (c.attention_bias) {
    throw ConfigError(str(source, ": attention_bias=true is not supported (Qwen3 has none)"));
  }
  if (j.contains("use_sliding_window") && j["use_sliding_window"].is_boolean() &&
      j["use_sliding_window"].get<bool>()) {
    throw ConfigError(str(source, ": use_sliding_window=true is not supported"));
  }
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
