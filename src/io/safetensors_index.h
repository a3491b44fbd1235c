// model.safetensors.index.json, torch-free: which shard file holds each tensor of a sharded
// checkpoint. The layout transformers and huggingface_hub write:
//   {"metadata": {"total_parameters": <elements>, "total_size": <bytes of all tensors>},
//    "weight_map": {"<tensor>": "<file>"}}
// (total_parameters since transformers 5.)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace fusebox::io {

inline constexpr const char* kSafetensorsIndexName = "model.safetensors.index.json";
inline constexpr const char* kSafetensorsSingleName = "model.safetensors";

struct SafetensorsIndex {
  std::map<std::string, std::string> weight_map;  // tensor name -> shard file name
  std::optional<uint64_t> total_size;             // metadata.total_size when present
  std::optional<uint64_t> total_parameters;       // metadata.total_parameters when present
};

// Throws fusebox::DataError naming `file` (and the tensor) on invalid JSON, a missing or
// malformed weight_map, or a shard name that is not a plain file name: the index may only
// point at files beside it ("../x" or "/x" would read outside the model directory).
SafetensorsIndex parse_safetensors_index(const std::string& text, const std::string& file);

// The index text: keys sorted, two-space indent, trailing newline (as transformers writes).
std::string safetensors_index_to_json(const SafetensorsIndex& index);

// Shard `index` (0-based) of `count`: "model-00001-of-00005.safetensors" for index 0, the
// names transformers writes (1-based, 5 digits).
std::string safetensors_shard_name(size_t index, size_t count);

}  // namespace fusebox::io
