#include "io/safetensors_reader.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/safetensors_dtype.h"
#include "io/safetensors_index.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strings.h"

namespace fusebox::io {

// Tensor bytes are copied as they lie in the file, which is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the safetensors reader assumes a little-endian host");

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(str("cannot open '", path, "'"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path)
    : map_(path), header_(parse_safetensors_header(map_.data(), map_.size(), path)) {}

const SafetensorsTensorInfo& SafetensorsFile::info(const std::string& name) const {
  const auto* t = header_.find(name);
  if (t == nullptr) throw DataError(str(path(), ": no tensor named '", name, "'"));
  return *t;
}

torch::Tensor SafetensorsFile::load(const std::string& name,
                                    std::optional<torch::ScalarType> dtype) const {
  const auto& t = info(name);
  auto stored = torch_dtype_from_safetensors(t.dtype, str(path(), ": tensor '", name, "'"));
  // A bool tensor holding a byte other than 0/1 is undefined behaviour in torch: read the
  // bytes as uint8 and compare instead of trusting the file.
  auto raw = stored == torch::kBool ? torch::kUInt8 : stored;
  auto out = torch::empty(t.shape, torch::TensorOptions().dtype(raw));
  TORCH_INTERNAL_ASSERT(static_cast<uint64_t>(out.nbytes()) == t.nbytes());
  // memcpy, not from_blob: tensor offsets in the file need not be aligned for the dtype.
  if (t.nbytes() > 0)
    std::memcpy(out.data_ptr(), map_.data() + header_.data_offset + t.begin, t.nbytes());
  if (stored == torch::kBool) out = out.ne(0);
  if (dtype && *dtype != out.scalar_type()) out = out.to(*dtype);
  return out;
}

std::map<std::string, torch::Tensor> load_safetensors(const std::string& path,
                                                      std::optional<torch::ScalarType> dtype) {
  SafetensorsFile file(path);
  std::map<std::string, torch::Tensor> out;
  for (const auto& t : file.header().tensors)
    out[t.name] = file.load(t.name, dtype);
  return out;
}

SafetensorsSet::SafetensorsSet(const std::string& path) : source_(path) {
  namespace fs = std::filesystem;
  if (fs::path(path).extension() != ".json") {  // one file, not an index
    shards_.emplace_back(path);
    for (const auto& t : shards_[0].header().tensors)
      where_[t.name] = 0;
    return;
  }
  auto index = parse_safetensors_index(read_text(path), path);
  fs::path dir = fs::path(path).parent_path();
  std::map<std::string, size_t> shard_ids;  // shard file name -> index into shards_
  for (const auto& [tensor, shard] : index.weight_map) {
    auto it = shard_ids.find(shard);
    if (it == shard_ids.end()) {
      fs::path shard_path = dir / shard;
      if (!fs::is_regular_file(shard_path)) {
        throw DataError(str(path, ": tensor '", tensor, "' is in shard '", shard, "', but ",
                            shard_path.string(), " does not exist"));
      }
      shards_.emplace_back(shard_path.string());
      it = shard_ids.emplace(shard, shards_.size() - 1).first;
    }
    if (!shards_[it->second].contains(tensor)) {
      throw DataError(str(path, " lists tensor '", tensor, "' in shard '", shard, "', but ",
                          shards_[it->second].path(), " has no tensor of that name"));
    }
    where_[tensor] = it->second;
  }
  // transformers loads only what the index lists; say so when a shard holds more.
  size_t unlisted = 0;
  for (const auto& shard : shards_)
    for (const auto& t : shard.header().tensors)
      unlisted += where_.count(t.name) == 0;
  if (unlisted > 0)
    log::warn(path, ": ", unlisted, " tensors in its shards are not in weight_map; ignored");
}

std::vector<std::string> SafetensorsSet::names() const {
  std::vector<std::string> out;
  for (const auto& entry : where_)
    out.push_back(entry.first);
  return out;
}

const SafetensorsFile& SafetensorsSet::shard_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw DataError(str(source_, ": no tensor named '", name, "'"));
  return shards_[it->second];
}

const SafetensorsTensorInfo& SafetensorsSet::info(const std::string& name) const {
  return shard_of(name).info(name);
}

const std::string& SafetensorsSet::file_of(const std::string& name) const {
  return shard_of(name).path();
}

torch::Tensor SafetensorsSet::load(const std::string& name,
                                   std::optional<torch::ScalarType> dtype) const {
  return shard_of(name).load(name, dtype);
}

std::vector<std::string> SafetensorsSet::files() const {
  std::vector<std::string> out;
  for (const auto& shard : shards_)
    out.push_back(shard.path());
  return out;
}

}  // namespace fusebox::io
