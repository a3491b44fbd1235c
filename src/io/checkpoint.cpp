#include "io/checkpoint.h"

#include <algorithm>
#include <filesystem>

#include "io/checkpoint_fs.h"
#include "io/hf_config_writer.h"
#include "io/safetensors_dtype.h"
#include "io/safetensors_index.h"
#include "io/safetensors_reader.h"
#include "io/safetensors_writer.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strings.h"

namespace fusebox::io {
namespace fs = std::filesystem;
namespace {

constexpr const char* kConfigName = "config.json";
constexpr size_t kListed = 10;  // names shown in an error; the rest are counted

std::string name_list(const std::vector<std::string>& names) {
  std::vector<std::string> shown;
  for (size_t i = 0; i < names.size() && i < kListed; ++i)
    shown.push_back("'" + names[i] + "'");
  std::string out = join(shown, ", ");
  if (names.size() > kListed) out += str(" and ", names.size() - kListed, " more");
  return out;
}

std::string shape_string(c10::IntArrayRef shape) {
  std::vector<std::string> dims;
  for (int64_t d : shape)
    dims.push_back(std::to_string(d));
  return "[" + join(dims, ", ") + "]";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// model.safetensors, model.safetensors.index.json or a shard (model-00001-of-00002.safetensors).
bool is_weights_file(const std::string& name) {
  if (name == kSafetensorsSingleName || name == kSafetensorsIndexName) return true;
  return name.rfind("model-", 0) == 0 && ends_with(name, ".safetensors") &&
         name.find("-of-") != std::string::npos;
}

// Replacing `dir` deletes it: only do that to an empty directory or one that looks like a
// model directory, never to whatever a mistyped path happens to name.
void check_replaceable(const std::string& target) {
  std::string dir = normalize_target_directory(target);
  std::error_code ec;
  if (!fs::is_directory(dir, ec) || fs::is_empty(dir, ec)) return;
  if (fs::exists(fs::path(dir) / kConfigName) || has_weights(dir)) return;
  throw DataError(str("refusing to save a checkpoint over '", dir,
                      "': it is a non-empty directory with no config.json or model weights, "
                      "and saving replaces the whole directory; choose a new path"));
}

void check_names(const SafetensorsSet& weights,
                 const torch::OrderedDict<std::string, torch::Tensor>& params,
                 const model::Qwen3Config& config, const std::string& path) {
  std::vector<std::string> missing, unexpected;
  for (const auto& p : params)
    if (!weights.contains(p.key())) missing.push_back(p.key());
  for (const auto& name : weights.names()) {
    if (params.contains(name)) continue;
    // Older transformers saved RoPE's inv_freq buffer; fusebox recomputes it from config.
    if (ends_with(name, ".rotary_emb.inv_freq")) continue;
    if (name == "lm_head.weight" && config.tie_word_embeddings) {
      log::debug(path, ": ignoring lm_head.weight: the model ties it to model.embed_tokens.weight");
      continue;
    }
    unexpected.push_back(name);
  }
  if (missing.empty() && unexpected.empty()) return;
  std::string message = str(path, ": the weights do not match the model (", config.describe(), ")");
  if (!missing.empty())
    message += str("; missing ", missing.size(), " tensors: ", name_list(missing));
  if (!unexpected.empty())
    message += str("; unexpected ", unexpected.size(), " tensors: ", name_list(unexpected));
  if (std::find(missing.begin(), missing.end(), "lm_head.weight") != missing.end()) {
    message += " (no lm_head.weight: was the checkpoint saved with tie_word_embeddings=true?)";
  }
  throw DataError(message);
}

void check_shapes_and_dtypes(const SafetensorsSet& weights,
                             const torch::OrderedDict<std::string, torch::Tensor>& params,
                             const model::Qwen3Config& config) {
  std::vector<std::string> problems;
  for (const auto& p : params) {
    const auto& info = weights.info(p.key());
    std::string where = str(weights.file_of(p.key()), ": tensor '", p.key(), "'");
    if (c10::IntArrayRef(info.shape) != p.value().sizes()) {
      problems.push_back(str(where, " has shape ", shape_string(info.shape),
                             ", but the model built from its config expects ",
                             shape_string(p.value().sizes())));
    }
    auto stored = torch_dtype_from_safetensors(info.dtype, where);
    if (p.value().is_floating_point() && !c10::isFloatingType(stored)) {
      problems.push_back(str(where, " is ", info.dtype, ", but the parameter is ",
                             c10::toString(p.value().scalar_type()),
                             "; expected a floating-point tensor"));
    }
  }
  if (problems.empty()) return;
  std::vector<std::string> shown(problems.begin(),
                                 problems.begin() + std::min(problems.size(), kListed));
  std::string more =
      problems.size() > kListed ? str("; and ", problems.size() - kListed, " more") : "";
  throw DataError(str(problems.size(), " tensors disagree with the model (", config.describe(),
                      "): ", join(shown, "; "), more));
}

}  // namespace

std::string find_model_weights(const std::string& dir) {
  fs::path d(dir);
  if (!fs::is_directory(d))
    throw DataError(str("model directory '", dir, "' does not exist or is not a directory"));
  for (const char* name : {kSafetensorsSingleName, kSafetensorsIndexName})
    if (fs::is_regular_file(d / name)) return (d / name).string();
  for (const char* name : {"pytorch_model.bin", "pytorch_model.bin.index.json"}) {
    if (fs::exists(d / name)) {
      throw DataError(
          str("'", dir, "' holds ", name,
              " but no safetensors weights; fusebox reads safetensors only (convert "
              "with transformers: model.save_pretrained(dir, safe_serialization=True))"));
    }
  }
  throw DataError(str("'", dir, "' has no model weights; expected ", kSafetensorsSingleName, " or ",
                      kSafetensorsIndexName));
}

bool has_weights(const std::string& dir) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(dir) / kSafetensorsSingleName, ec) ||
         fs::is_regular_file(fs::path(dir) / kSafetensorsIndexName, ec);
}

void save_hf_checkpoint(const model::Qwen3ForCausalLM& model, const std::string& dir,
                        const CheckpointSaveOptions& options) {
  const auto& config = model->config();
  NamedTensors tensors;
  uint64_t total_bytes = 0;
  for (const auto& p : model->named_parameters(/*recurse=*/true)) {
    // transformers does not save the tied copy; there is no lm_head module then anyway.
    if (config.tie_word_embeddings && p.key() == "lm_head.weight") continue;
    tensors.emplace_back(p.key(), p.value());
    total_bytes +=
        p.value().numel() * c10::elementSize(options.dtype.value_or(p.value().scalar_type()));
  }
  if (tensors.empty()) throw DataError(str("cannot save '", dir, "': the model has no parameters"));
  auto dtype = options.dtype.value_or(tensors.front().second.scalar_type());

  check_replaceable(dir);
  StagedDirectory staged(dir);
  SafetensorsWriteOptions write;
  write.dtype = options.dtype;
  write.max_shard_bytes = options.max_shard_bytes;
  write.after_file_written = options.after_file_written;
  auto files = write_safetensors_model(staged.path(), tensors, write);
  std::string config_path = (fs::path(staged.path()) / kConfigName).string();
  write_file_durably(config_path, hf_config_to_json(config, hf_dtype_name(dtype)));
  if (options.after_file_written) options.after_file_written(config_path);
  if (options.write_extra_files) options.write_extra_files(staged.path());
  staged.commit();
  size_t shards = files.size() > 1 ? files.size() - 1 : 1;  // less the index
  log::info("saved ", tensors.size(), " tensors (", format_bytes(static_cast<double>(total_bytes)),
            ", ", hf_dtype_name(dtype), ", ", shards, shards == 1 ? " file" : " shards", ") to ",
            staged.target());
}

void publish_hf_model(const std::string& from, const std::string& to) {
  find_model_weights(from);  // a clear error when `from` is no model directory
  std::vector<std::string> weights;
  for (const auto& entry : fs::directory_iterator(from)) {
    std::string name = entry.path().filename().string();
    if (is_weights_file(name)) weights.push_back(name);
  }
  // Shards before the index that names them; config.json last, as a save writes them.
  std::sort(weights.begin(), weights.end(), [](const std::string& a, const std::string& b) {
    return (a == kSafetensorsIndexName) < (b == kSafetensorsIndexName) ||
           ((a == kSafetensorsIndexName) == (b == kSafetensorsIndexName) && a < b);
  });
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) throw DataError(str("cannot create directory '", to, "': ", ec.message()));
  for (const auto& name : weights)
    replace_file_with((fs::path(from) / name).string(), (fs::path(to) / name).string());
  replace_file_with((fs::path(from) / kConfigName).string(), (fs::path(to) / kConfigName).string());
  // The tokenizer travels with the model, so `generate --model output_dir` decodes with it.
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
    if (fs::exists(fs::path(from) / name, ec))
      replace_file_with((fs::path(from) / name).string(), (fs::path(to) / name).string());
  }
  for (const auto& entry : fs::directory_iterator(to)) {
    std::string name = entry.path().filename().string();
    if (is_weights_file(name) && std::find(weights.begin(), weights.end(), name) == weights.end()) {
      fs::remove(entry.path(), ec);
      if (ec) log::warn("could not remove the stale weights file '", entry.path().string(), "'");
    }
  }
  fsync_directory(to);
}

void load_hf_weights(model::Qwen3ForCausalLM& model, const std::string& dir) {
  std::string path = find_model_weights(dir);
  SafetensorsSet weights(path);
  const auto& config = model->config();
  auto params = model->named_parameters(/*recurse=*/true);
  check_names(weights, params, config, path);
  check_shapes_and_dtypes(weights, params, config);
  torch::NoGradGuard no_grad;
  for (auto& p : params)
    p.value().copy_(weights.load(p.key(), p.value().scalar_type()));
  log::info("loaded ", params.size(), " tensors from ", path);
}

}  // namespace fusebox::io
