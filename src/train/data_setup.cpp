#include "train/data_setup.h"

#include <filesystem>
#include <string>

#include "data/byte_tokenizer.h"
#include "data/hf_tokenizer.h"
#include "data/token_dataset.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strings.h"

namespace fusebox::train {
namespace {

namespace fs = std::filesystem;

bool has_eval(const config::TrainConfig& cfg) {
  return !cfg.eval_dataset.empty();
}

// The first dataset of the config that is (or is not) builtin, "" if none.
std::string first_dataset(const config::TrainConfig& cfg, bool builtin) {
  if (data::is_builtin_dataset(cfg.train_dataset) == builtin) return cfg.train_dataset;
  if (has_eval(cfg) && data::is_builtin_dataset(cfg.eval_dataset) == builtin) {
    return cfg.eval_dataset;
  }
  return "";
}

// resolve_path leaves a path that exists nowhere as written; say where it was looked for,
// since a path relative to the wrong directory is the usual mistake.
std::string existing_path(const config::TrainConfig& cfg, const std::string& path,
                          const std::string& what) {
  const std::string resolved = config::resolve_path(cfg, path);
  std::error_code ec;
  if (fs::exists(resolved, ec)) return resolved;
  const std::string from_cwd = fs::absolute(path, ec).lexically_normal().string();
  std::string where = from_cwd + " does not exist";
  if (!cfg.config_dir.empty() && !fs::path(path).is_absolute()) {
    where = str("neither ", (fs::path(cfg.config_dir) / path).lexically_normal().string(),
                " (next to the config) nor ", from_cwd, " exists");
  }
  throw DataError(str(cfg.source_path, ": ", what, " '", path, "' not found: ", where));
}

std::unique_ptr<data::Tokenizer> make_tokenizer(const config::TrainConfig& cfg) {
  if (cfg.tokenizer == "byte") return std::make_unique<data::ByteTokenizer>();
  if (!cfg.tokenizer.empty()) {
    return data::load_hf_tokenizer(existing_path(cfg, cfg.tokenizer, "tokenizer"));
  }
  const std::string file_dataset = first_dataset(cfg, false);
  if (file_dataset.empty()) return std::make_unique<data::ByteTokenizer>();
  const std::string model_path = config::resolve_path(cfg, cfg.model);
  std::error_code ec;
  if (fs::is_regular_file(fs::path(model_path) / "tokenizer.json", ec)) {
    return data::load_hf_tokenizer(model_path);
  }
  throw ConfigError(str(cfg.source_path, ": dataset '", file_dataset,
                        "' needs a tokenizer and the model '", cfg.model,
                        "' has no tokenizer.json; set tokenizer: to a tokenizer.json (or a ",
                        "directory holding one), or tokenizer: byte"));
}

}  // namespace

TrainingData load_training_data(const config::TrainConfig& cfg, int64_t model_vocab_size) {
  TrainingData out;
  out.tokenizer = make_tokenizer(cfg);
  const bool byte_level = dynamic_cast<const data::ByteTokenizer*>(out.tokenizer.get()) != nullptr;
  const std::string builtin = first_dataset(cfg, true);
  if (!builtin.empty() && !byte_level) {
    throw ConfigError(str(cfg.source_path, ": dataset '", builtin,
                          "' is written in byte-level tokens, but the tokenizer is ",
                          out.tokenizer->describe(), "; leave tokenizer unset or set it to byte"));
  }
  if (out.tokenizer->vocab_size() > model_vocab_size) {
    throw ConfigError(str(cfg.source_path, ": the tokenizer has ", out.tokenizer->vocab_size(),
                          " ids but the model '", cfg.model, "' has vocab_size ", model_vocab_size,
                          "; the model's vocab_size must be at least the tokenizer's (tokenizer: ",
                          out.tokenizer->describe(), ")"));
  }
  log::info("tokenizer: ", out.tokenizer->describe());

  const data::SyntheticOptions synthetic{cfg.synthetic.max_digits, cfg.synthetic.train_size,
                                         cfg.synthetic.eval_size, static_cast<uint64_t>(cfg.seed)};
  data::TextDatasetOptions text;
  text.text_field = cfg.text_field;
  text.packing = cfg.packing;
  text.cutoff_len = cfg.cutoff_len;
  text.vocab_limit = model_vocab_size;
  auto make = [&](const std::string& spec, data::Split split) -> std::unique_ptr<data::Dataset> {
    if (data::is_builtin_dataset(spec)) return data::make_dataset(spec, split, synthetic);
    const std::string what = str(data::split_name(split), " dataset");
    return data::load_text_dataset(existing_path(cfg, spec, what), spec, *out.tokenizer, text);
  };
  out.train = make(cfg.train_dataset, data::Split::kTrain);
  if (has_eval(cfg)) out.eval = make(cfg.eval_dataset, data::Split::kEval);
  return out;
}

}  // namespace fusebox::train
