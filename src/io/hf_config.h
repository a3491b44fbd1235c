// Hugging Face config.json -> Qwen3Config, for model_type "qwen3" and "qwen3_moe". Reads the
// layouts transformers 4.5x and 5.x write (rope_theta at top level or under rope_parameters;
// torch_dtype or dtype; num_experts or num_local_experts). Keys left out take transformers'
// defaults for that model type. A field that changes the math but is not supported is an
// error, never ignored.
#pragma once

#include <string>

#include "model/qwen3_config.h"

namespace fusebox::io {

// Parses a config.json file. Throws fusebox::ConfigError naming the file and the key.
model::Qwen3Config read_hf_config(const std::string& path);
// Same, from JSON text; `source` names it in messages.
model::Qwen3Config parse_hf_config(const std::string& json_text, const std::string& source);

// A `model:` value from the YAML: a config.json file, or a directory holding one.
std::string find_hf_config(const std::string& model_path);

}  // namespace fusebox::io
