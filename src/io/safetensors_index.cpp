#include "io/safetensors_index.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::io {
namespace {

using nlohmann::json;

bool plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

}  // namespace

SafetensorsIndex parse_safetensors_index(const std::string& text, const std::string& file) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    throw DataError(str(file, ": not valid JSON (", e.what(), ")"));
  }
  if (!root.is_object()) throw DataError(str(file, ": expected a JSON object at top level"));
  SafetensorsIndex index;
  auto metadata = root.find("metadata");
  if (metadata != root.end() && metadata->is_object()) {
    // Informational only (some writers store floats): read them when they are integers.
    auto total = metadata->find("total_size");
    if (total != metadata->end() && total->is_number_unsigned())
      index.total_size = total->get<uint64_t>();
    auto params = metadata->find("total_parameters");
    if (params != metadata->end() && params->is_number_unsigned())
      index.total_parameters = params->get<uint64_t>();
  }
  auto map = root.find("weight_map");
  if (map == root.end() || !map->is_object()) {
    throw DataError(
        str(file, ": expected a 'weight_map' object of tensor name -> shard file name"));
  }
  for (const auto& [tensor, shard] : map->items()) {
    if (!shard.is_string()) {
      throw DataError(str(file, ": weight_map entry for tensor '", tensor,
                          "' must be a file name string, got ", shard.type_name()));
    }
    const auto& name = shard.get_ref<const std::string&>();
    if (!plain_file_name(name)) {
      throw DataError(str(file, ": weight_map entry for tensor '", tensor, "' names '", name,
                          "'; expected a plain file name in the same directory"));
    }
    index.weight_map[tensor] = name;
  }
  if (index.weight_map.empty()) throw DataError(str(file, ": weight_map is empty"));
  return index;
}

std::string safetensors_index_to_json(const SafetensorsIndex& index) {
  json root;  // std::map-backed: keys come out sorted, like json.dumps(sort_keys=True)
  root["metadata"] = json::object();
  if (index.total_size) root["metadata"]["total_size"] = *index.total_size;
  if (index.total_parameters) root["metadata"]["total_parameters"] = *index.total_parameters;
  root["weight_map"] = index.weight_map;
  return root.dump(2) + "\n";
}

std::string safetensors_shard_name(size_t index, size_t count) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return buffer;
}

}  // namespace fusebox::io
