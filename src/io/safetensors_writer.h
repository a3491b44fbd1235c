// Writing safetensors files and Hugging Face weight layouts (one model.safetensors, or
// shards plus model.safetensors.index.json), byte-compatible with what transformers writes.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fusebox::io {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct SafetensorsWriteOptions {
  // Store every tensor in this dtype; nullopt keeps each tensor's own. Tensors are converted
  // (and copied to the CPU) one at a time, so a save never holds a second copy of the model.
  std::optional<torch::ScalarType> dtype;
  std::map<std::string, std::string> metadata = {{"format", "pt"}};  // what transformers writes
  // write_safetensors_model only: start a new shard before one would exceed this many bytes
  // of tensor data. transformers' default "5GB" is decimal.
  uint64_t max_shard_bytes = 5'000'000'000;
  // Called with each file's path once it is complete and fsynced. Tests throw from it to
  // fail a save midway.
  std::function<void(const std::string& path)> after_file_written;
};

// Writes one .safetensors file (created or truncated), fsynced, byte for byte as the Rust
// writer would: data ordered by dtype, widest first, then by name (so each tensor starts at a
// multiple of its element size), header entries in data order, padded with spaces so the
// data starts 8-byte aligned. Throws
// fusebox::DataError on an undefined tensor, a duplicate name, a dtype safetensors cannot
// hold, or an I/O failure.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const SafetensorsWriteOptions& options = {});

// Writes `tensors` into the existing directory `dir` the way transformers shards them:
// model.safetensors when all fit in one shard, else model-0000k-of-0000n.safetensors and a
// model.safetensors.index.json (weight_map and metadata.total_size). Shards fill in the order
// given; a tensor larger than the limit gets a shard of its own. Returns the file names
// written, index last.
std::vector<std::string> write_safetensors_model(const std::string& dir,
                                                 const NamedTensors& tensors,
                                                 const SafetensorsWriteOptions& options = {});

// huggingface_hub's split: indices of `bytes` per shard.
std::vector<std::vector<size_t>> plan_safetensors_shards(const std::vector<uint64_t>& bytes,
                                                         uint64_t max_shard_bytes);

}  // namespace fusebox::io
