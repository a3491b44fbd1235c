// Safetensors dtype names <-> torch scalar types.
#pragma once

#include <torch/torch.h>

#include <string>

namespace fusebox::io {

// "F32" -> kFloat, ... Throws fusebox::DataError (prefixed with `where`) for a dtype the
// format knows but torch cannot hold here (F8_*, unsigned wider than a byte).
torch::ScalarType torch_dtype_from_safetensors(const std::string& dtype, const std::string& where);
// kBFloat16 -> "BF16", ... Throws DataError for a type safetensors cannot store.
std::string safetensors_dtype_from_torch(torch::ScalarType dtype);
// kBFloat16 -> "bfloat16": the name config.json's torch_dtype uses.
std::string hf_dtype_name(torch::ScalarType dtype);

}  // namespace fusebox::io
