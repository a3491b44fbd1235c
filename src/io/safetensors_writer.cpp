#include "io/safetensors_writer.h"

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "io/checkpoint_fs.h"
#include "io/safetensors_dtype.h"
#include "io/safetensors_header.h"
#include "io/safetensors_index.h"
#include "util/error.h"
#include "util/strings.h"

namespace fusebox::io {

// Tensor bytes are written as they lie in memory; the format is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the safetensors writer assumes a little-endian host");

namespace {

torch::ScalarType stored_dtype(const torch::Tensor& t, const SafetensorsWriteOptions& options) {
  return options.dtype ? *options.dtype : t.scalar_type();
}

void check_defined(const std::string& name, const torch::Tensor& t, const std::string& file) {
  if (!t.defined()) throw DataError(str(file, ": tensor '", name, "' is undefined"));
}

void write_file(const std::string& path, const std::vector<const NamedTensors::value_type*>& items,
                const SafetensorsWriteOptions& options) {
  std::vector<SafetensorsTensorInfo> infos;
  for (const auto* item : items) {
    check_defined(item->first, item->second, path);
    SafetensorsTensorInfo info;
    info.name = item->first;
    try {
      try {
        info.dtype = safetensors_dtype_from_torch(stored_dtype(item->second, options));
      } catch (const DataError& e) {
        throw DataError(str(path, ": tensor '", item->first, "': ", e.what()));
      }
    } catch (const DataError& e) {
      throw DataError(str(path, ": tensor '", item->first, "': ", e.what()));
    }
    info.shape = item->second.sizes().vec();
    infos.push_back(std::move(info));
  }
  // The Rust writer's order: widest dtype first, then name.
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    int da = safetensors_dtype_order(infos[a].dtype), db = safetensors_dtype_order(infos[b].dtype);
    return da != db ? da > db : infos[a].name < infos[b].name;
  });
  std::vector<SafetensorsTensorInfo> sorted_infos;
  std::vector<const NamedTensors::value_type*> sorted;
  for (size_t i : order) {
    sorted_infos.push_back(std::move(infos[i]));
    sorted.push_back(items[i]);
  }
  infos = std::move(sorted_infos);
  layout_safetensors_tensors(infos, path);
  std::string header;
  try {
    header = serialize_safetensors_header(infos, options.metadata);
  } catch (const DataError& e) {
    throw DataError(str(path, ": ", e.what()));
  }

  DurableFile file(path);
  file.write(header);
  for (size_t i = 0; i < sorted.size(); ++i) {
    const auto& t = sorted[i]->second;
    auto cpu = t.detach().to(torch::kCPU, stored_dtype(t, options)).contiguous();
    TORCH_INTERNAL_ASSERT(static_cast<uint64_t>(cpu.nbytes()) == infos[i].nbytes());
    file.write(cpu.data_ptr(), cpu.nbytes());
  }
  file.finish();
  if (options.after_file_written) options.after_file_written(path);
}

}  // namespace

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const SafetensorsWriteOptions& options) {
  std::vector<const NamedTensors::value_type*> items;
  for (const auto& item : tensors)
    items.push_back(&item);
  write_file(path, items, options);
}

std::vector<std::vector<size_t>> plan_safetensors_shards(const std::vector<uint64_t>& bytes,
                                                         uint64_t max_shard_bytes) {
  std::vector<std::vector<size_t>> shards;
  std::vector<size_t> current;
  uint64_t current_bytes = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] > max_shard_bytes) {  // too big for any shard: one of its own
      shards.push_back({i});
      continue;
    }
    if (!current.empty() && current_bytes + bytes[i] > max_shard_bytes) {
      shards.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
    current.push_back(i);
    current_bytes += bytes[i];
  }
  if (!current.empty() || shards.empty()) shards.push_back(std::move(current));
  return shards;
}

std::vector<std::string> write_safetensors_model(const std::string& dir,
                                                 const NamedTensors& tensors,
                                                 const SafetensorsWriteOptions& options) {
  namespace fs = std::filesystem;
  std::vector<uint64_t> bytes;
  for (const auto& [name, t] : tensors) {
    check_defined(name, t, dir);
    bytes.push_back(static_cast<uint64_t>(t.numel()) * c10::elementSize(stored_dtype(t, options)));
  }
  auto plan = plan_safetensors_shards(bytes, options.max_shard_bytes);

  std::vector<std::string> written;
  SafetensorsIndex index;
  index.total_size = std::accumulate(bytes.begin(), bytes.end(), uint64_t{0});
  index.total_parameters = 0;
  for (const auto& item : tensors)
    *index.total_parameters += item.second.numel();
  for (size_t s = 0; s < plan.size(); ++s) {
    std::string name =
        plan.size() == 1 ? kSafetensorsSingleName : safetensors_shard_name(s, plan.size());
    std::vector<const NamedTensors::value_type*> items;
    for (size_t i : plan[s]) {
      items.push_back(&tensors[i]);
      if (!index.weight_map.emplace(tensors[i].first, name).second)
        throw DataError(str(dir, ": tensor '", tensors[i].first, "' given twice"));
    }
    write_file((fs::path(dir) / name).string(), items, options);
    written.push_back(name);
  }
  if (plan.size() > 1) {
    std::string path = (fs::path(dir) / kSafetensorsIndexName).string();
    write_file_durably(path, safetensors_index_to_json(index));
    if (options.after_file_written) options.after_file_written(path);
    written.push_back(kSafetensorsIndexName);
  }
  return written;
}

}  // namespace fusebox::io
