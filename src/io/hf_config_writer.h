// Qwen3Config -> Hugging Face config.json, the inverse of hf_config.h. Written so that
// transformers 4.5x and 5.x both load it: rope_theta at top level (4.x) and under
// rope_parameters (5.x), torch_dtype (4.x) and dtype (5.x).
#pragma once

#include <string>

#include "model/qwen3_config.h"

namespace fusebox::io {

// The config.json text (sorted keys, two-space indent, trailing newline, as transformers
// writes it). `torch_dtype`: "float32", "bfloat16", ...: the dtype the weights are stored in.
// model_type "qwen3_moe" adds the MoE fields and names Qwen3MoeForCausalLM.
std::string hf_config_to_json(const model::Qwen3Config& config,
                              const std::string& torch_dtype = "float32");

}  // namespace fusebox::io
