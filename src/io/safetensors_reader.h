// Reading safetensors: one file (SafetensorsFile) or one model's tensors spread over shards
// (SafetensorsSet, from model.safetensors.index.json). Files are memory-mapped; load()
// copies a tensor out of the map, so returned tensors own their memory and outlive the file.
#pragma once

#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/safetensors_header.h"
#include "io/safetensors_mmap.h"

namespace fusebox::io {

class SafetensorsFile {
 public:
  // Maps the file and validates its header; throws fusebox::DataError naming the file.
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return map_.path(); }
  const SafetensorsHeader& header() const { return header_; }
  bool contains(const std::string& name) const { return header_.find(name) != nullptr; }
  // Throws DataError naming the file and the tensor when absent.
  const SafetensorsTensorInfo& info(const std::string& name) const;
  // The tensor on the CPU, in its stored dtype or converted to `dtype`.
  torch::Tensor load(const std::string& name,
                     std::optional<torch::ScalarType> dtype = std::nullopt) const;

 private:
  MappedFile map_;
  SafetensorsHeader header_;
};

// Every tensor of one file, by name.
std::map<std::string, torch::Tensor> load_safetensors(
    const std::string& path, std::optional<torch::ScalarType> dtype = std::nullopt);

class SafetensorsSet {
 public:
  // `path`: a .safetensors file, or a model.safetensors.index.json whose shards lie beside
  // it. Opens every shard up front and checks that each tensor the index lists is in its
  // shard, so a missing shard or tensor fails here, naming both, not halfway through a load.
  explicit SafetensorsSet(const std::string& path);

  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const SafetensorsTensorInfo& info(const std::string& name) const;
  const std::string& file_of(const std::string& name) const;
  torch::Tensor load(const std::string& name,
                     std::optional<torch::ScalarType> dtype = std::nullopt) const;
  std::vector<std::string> files() const;

 private:
  const SafetensorsFile& shard_of(const std::string& name) const;

  std::string source_;  // the path given, for messages
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, size_t> where_;  // tensor name -> index into shards_
};

}  // namespace fusebox::io
