// The TrainConfig schema: which keys exist, their types and ranges, and the entry points
// that tie loading, overrides and validation together.
#include "config/train_config.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config_source.h"
#include "config/include_kernels.h"
#include "config/overrides.h"
#include "config/yaml_reader.h"
#include "util/error.h"
#include "util/strings.h"

namespace fusebox::config {
namespace {

namespace fs = std::filesystem;

const KeySet kTopLevelKeys{
    {"model",
     "kernel_config",
     "train_dataset",
     "eval_dataset",
     "synthetic",
     "tokenizer",
     "text_field",
     "packing",
     "output_dir",
     "micro_batch_size",
     "gradient_accumulation_steps",
     "cutoff_len",
     "learning_rate",
     "max_steps",
     "num_train_epochs",
     "warmup_steps",
     "lr_scheduler_type",
     "weight_decay",
     "adam_beta1",
     "adam_beta2",
     "adam_epsilon",
     "max_grad_norm",
     "seed",
     "logging_steps",
     "eval_steps",
     "bf16",
     "enable_activation_checkpointing",
     "attn_implementation",
     "threads",
     "log_level",
     "save_steps",
     "save_total_limit",
     "resume_from_checkpoint",
     "overwrite_output_dir",
     "run_name",
     "progress_bar"},
    // Nested keys written at the top level, and names from other trainers' configs.
    {{"name", "kernel_config.name"},
     {"include_kernels", "kernel_config.include_kernels"},
     {"device", "kernel_config.device"},
     {"strict", "kernel_config.strict"},
     {"max_digits", "synthetic.max_digits"},
     {"train_size", "synthetic.train_size"},
     {"eval_size", "synthetic.eval_size"},
     {"model_name_or_path", "model"},
     {"dataset", "train_dataset"},
     {"per_device_train_batch_size", "micro_batch_size"},
     {"tokenizer_name_or_path", "tokenizer"},
     {"dataset_text_field", "text_field"},
     {"lr", "learning_rate"},
     {"resume", "resume_from_checkpoint"},
     {"disable_tqdm", "progress_bar"},
     {"flash_attn", "attn_implementation"},  // LLaMA-Factory's name
     {"gradient_checkpointing", "enable_activation_checkpointing"}}};

const KeySet kKernelConfigKeys{{"name", "include_kernels", "device", "strict"}, {}};
const KeySet kSyntheticKeys{{"max_digits", "train_size", "eval_size"}, {}};

int64_t int_at_least(const Field& f, int64_t min) {
  int64_t v = f.as_int();
  if (v < min) f.fail(str("expected an integer >= ", min, ", got ", v));
  return v;
}

std::string required_string(const MappingReader& m, const std::string& key, const std::string& what,
                            const ConfigSource& source) {
  Field f = m.field(key);
  if (!f) {
    source.fail_at("", YAML::Mark::null_mark(),
                   str("missing required key '", key, "' (", what, ")"));
  }
  std::string v = trim(f.as_string());
  if (v.empty()) f.fail(str("expected ", what, ", got an empty value"));
  return v;
}

void read_string(const MappingReader& m, const std::string& key, std::string* out) {
  if (Field f = m.field(key)) *out = trim(f.as_string());
}

// One of a fixed set of words, exactly (they are compared in code downstream).
void read_choice(const MappingReader& m, const std::string& key,
                 const std::vector<std::string>& choices, std::string* out) {
  Field f = m.field(key);
  if (!f) return;
  std::string v = f.is_null() ? "" : f.as_string();
  for (const std::string& c : choices) {
    if (v == c) {
      *out = v;
      return;
    }
  }
  std::string message =
      str("expected one of ", join(choices, ", "), "; got ", describe_node(f.node()));
  std::string near = closest_match(v, choices);
  if (!near.empty()) message += str(" (did you mean '", near, "'?)");
  f.fail(message);
}

void read_kernel_config(const Field& field, const ConfigSource& source, KernelConfig* kc) {
  MappingReader m(field, kKernelConfigKeys, source);
  if (Field f = m.field("name")) {
    std::string name = f.as_string();
    if (name != "auto") {
      f.fail(str("got '", name, "'; only the built-in registry ('auto') is supported"));
    }
    kc->name = name;
  }
  if (Field f = m.field("include_kernels")) {
    std::string problem;
    if (f.is_null()) {
      kc->include_kernels = "false";
    } else if (f.node().IsSequence()) {
      std::vector<std::string> ids;
      for (std::size_t i = 0; i < f.node().size(); ++i) {
        const YAML::Node& item = f.node()[i];
        if (!item.IsScalar()) {
          f.fail(str("expected a list of kernel ids, got ", describe_node(item), " at position ",
                     i + 1));
        }
        ids.push_back(item.Scalar());
      }
      problem = normalize_include_kernels(ids, &kc->include_kernels);
    } else if (f.node().IsScalar()) {
      problem = normalize_include_kernels(f.node().Scalar(), &kc->include_kernels);
    } else {
      problem =
          str("expected null, false, true, auto, a comma-separated list of kernel ids or "
              "a sequence of them; got ",
              describe_node(f.node()));
    }
    if (!problem.empty()) f.fail(problem);
  }
  read_choice(m, "device", {"auto", "cpu", "cuda"}, &kc->device);
  if (Field f = m.field("strict")) kc->strict = f.as_bool();
}

void read_synthetic(const Field& field, const ConfigSource& source, SyntheticConfig* sc) {
  MappingReader m(field, kSyntheticKeys, source);
  if (Field f = m.field("max_digits")) {
    sc->max_digits = int_at_least(f, 1);
    // Operands go up to 10^max_digits - 1 and their sum must fit in an int64.
    if (sc->max_digits > 18) f.fail(str("expected an integer in [1, 18], got ", sc->max_digits));
  }
  if (Field f = m.field("train_size")) sc->train_size = int_at_least(f, 1);
  if (Field f = m.field("eval_size")) sc->eval_size = int_at_least(f, 1);
}

// The numeric hyper-parameters; split out so that read_train_config reads as the schema.
void read_optimization(const MappingReader& m, TrainConfig* cfg) {
  if (Field f = m.field("micro_batch_size")) cfg->micro_batch_size = int_at_least(f, 1);
  if (Field f = m.field("gradient_accumulation_steps")) {
    cfg->gradient_accumulation_steps = int_at_least(f, 1);
  }
  // A single token leaves nothing to predict: the loss needs an input and a next token.
  if (Field f = m.field("cutoff_len")) cfg->cutoff_len = int_at_least(f, 2);
  if (Field f = m.field("learning_rate")) {
    cfg->learning_rate = f.as_double();
    if (cfg->learning_rate <= 0) f.fail(str("expected a number > 0, got ", cfg->learning_rate));
  }
  if (Field f = m.field("max_steps")) {
    cfg->max_steps = f.as_int();
    if (cfg->max_steps != -1 && cfg->max_steps < 1) {
      f.fail(
          str("expected -1 (train for num_train_epochs) or an integer >= 1, got ", cfg->max_steps));
    }
  }
  if (Field f = m.field("num_train_epochs")) {
    cfg->num_train_epochs = f.as_double();
    if (cfg->num_train_epochs <= 0) {
      f.fail(str("expected a number > 0, got ", cfg->num_train_epochs));
    }
  }
  if (Field f = m.field("warmup_steps")) cfg->warmup_steps = int_at_least(f, 0);
  read_choice(m, "lr_scheduler_type", {"cosine", "linear", "constant"}, &cfg->lr_scheduler_type);
  if (Field f = m.field("weight_decay")) {
    cfg->weight_decay = f.as_double();
    if (cfg->weight_decay < 0) f.fail(str("expected a number >= 0, got ", cfg->weight_decay));
  }
  for (auto [key, beta] :
       {std::pair{"adam_beta1", &cfg->adam_beta1}, std::pair{"adam_beta2", &cfg->adam_beta2}}) {
    if (Field f = m.field(key)) {
      *beta = f.as_double();
      if (*beta < 0 || *beta >= 1) f.fail(str("expected a number in [0, 1), got ", *beta));
    }
  }
  if (Field f = m.field("adam_epsilon")) {
    cfg->adam_epsilon = f.as_double();
    if (cfg->adam_epsilon <= 0) f.fail(str("expected a number > 0, got ", cfg->adam_epsilon));
  }
  if (Field f = m.field("max_grad_norm")) {
    cfg->max_grad_norm = f.as_double();
    if (cfg->max_grad_norm < 0) {
      f.fail(str("expected a number >= 0 (0 disables clipping), got ", cfg->max_grad_norm));
    }
  }
}

// save_steps, save_total_limit, resume_from_checkpoint, overwrite_output_dir.
void read_checkpointing(const MappingReader& m, TrainConfig* cfg) {
  if (Field f = m.field("save_steps")) cfg->save_steps = int_at_least(f, 0);
  if (Field f = m.field("save_total_limit")) {
    // null is transformers' spelling of "keep every checkpoint".
    cfg->save_total_limit = f.is_null() ? 0 : int_at_least(f, 0);
  }
  if (Field f = m.field("resume_from_checkpoint")) {
    // transformers also takes `true` for "the newest checkpoint in output_dir".
    bool flag = false;
    std::string v = f.is_null() ? "" : trim(f.as_string());
    if (f.node().IsScalar() && parse_bool(v, &flag)) {
      cfg->resume_from_checkpoint = flag ? "latest" : "";
    } else {
      cfg->resume_from_checkpoint = v;
    }
  }
  if (Field f = m.field("overwrite_output_dir")) cfg->overwrite_output_dir = f.as_bool();
}

TrainConfig read_train_config(const YAML::Node& root, const ConfigSource& source) {
  TrainConfig cfg;
  MappingReader m(root, "", root.Mark(), kTopLevelKeys, source);
  cfg.model = required_string(m, "model", "a config.json path or a model directory", source);
  read_kernel_config(m.field("kernel_config"), source, &cfg.kernel_config);
  cfg.train_dataset =
      required_string(m, "train_dataset", "a dataset such as builtin:addition", source);
  read_string(m, "eval_dataset", &cfg.eval_dataset);
  read_synthetic(m.field("synthetic"), source, &cfg.synthetic);
  read_string(m, "tokenizer", &cfg.tokenizer);
  if (Field f = m.field("text_field")) {
    cfg.text_field = trim(f.as_string());
    if (cfg.text_field.empty())
      f.fail("expected the JSONL key that holds the text, got an empty value");
  }
  if (Field f = m.field("packing")) cfg.packing = f.as_bool();
  if (Field f = m.field("output_dir")) {
    cfg.output_dir = trim(f.as_string());
    if (cfg.output_dir.empty()) f.fail("expected a directory path, got an empty value");
  }
  read_optimization(m, &cfg);
  if (Field f = m.field("seed")) cfg.seed = f.as_int();
  if (Field f = m.field("logging_steps")) cfg.logging_steps = int_at_least(f, 1);
  if (Field f = m.field("eval_steps")) cfg.eval_steps = int_at_least(f, 0);
  if (Field f = m.field("bf16")) cfg.bf16 = f.as_bool();
  if (Field f = m.field("enable_activation_checkpointing"))
    cfg.enable_activation_checkpointing = f.as_bool();
  if (Field f = m.field("attn_implementation")) {
    // LLaMA-Factory's flash_attn values too: disabled = eager; fa2 needs a kernel we lack.
    std::string v = f.is_null() ? "" : trim(f.as_string());
    if (v == "disabled") v = "eager";
    if (v == "fa2")
      f.fail(
          "flash-attention 2 is not part of fusebox; use sdpa (libtorch's flash backend on "
          "GPU) or auto, and the fused attention kernels through kernel_config");
    if (v != "eager" && v != "sdpa" && v != "auto")
      f.fail(str("expected one of eager, sdpa, auto (or disabled); got '", v, "'"));
    cfg.attn_implementation = v;
  }
  if (Field f = m.field("threads")) {
    int64_t n = 0;
    bool is_scalar = f.node().IsScalar();
    if (is_scalar && to_lower(f.node().Scalar()) == "auto") {
      cfg.threads = 0;  // the struct's encoding of "auto"
    } else if (is_scalar && parse_int64(f.node().Scalar(), &n) && n >= 1) {
      cfg.threads = n;
    } else {
      f.fail(str("expected 'auto' or an integer >= 1, got ", describe_node(f.node())));
    }
  }
  read_choice(m, "log_level", {"trace", "debug", "info", "warn", "error", "off"}, &cfg.log_level);
  read_checkpointing(m, &cfg);
  read_string(m, "run_name", &cfg.run_name);
  read_choice(m, "progress_bar", {"auto", "true", "false"}, &cfg.progress_bar);
  return cfg;
}

}  // namespace

TrainConfig parse_train_config(const std::string& yaml_text, const std::string& source_name,
                               const std::vector<std::string>& overrides) {
  ConfigSource source(source_name);
  YAML::Node root = load_yaml_document(yaml_text, source);
  check_unique_keys(root, "", source);
  apply_overrides(root, overrides, source);
  TrainConfig cfg = read_train_config(root, source);
  cfg.source_path = source_name;
  cfg.config_dir = fs::path(source_name).parent_path().string();
  return cfg;
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  bool exists = fs::exists(path, ec);
  if (ec) throw ConfigError(str("cannot access config file '", path, "': ", ec.message()));
  if (!exists) {
    throw ConfigError(str("config file '", path,
                          "' not found (working directory: ", fs::current_path(ec).string(), ")"));
  }
  if (fs::is_directory(path, ec)) {
    throw ConfigError(str("config file '", path, "' is a directory; expected a YAML file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(str("cannot read config file '", path, "': ", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw ConfigError(str("cannot read config file '", path, "': ", std::strerror(errno)));
  }
  return parse_train_config(text.str(), path, overrides);
}

std::string resolve_path(const TrainConfig& cfg, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute() || cfg.config_dir.empty()) return path;
  fs::path candidate = fs::path(cfg.config_dir) / path;
  std::error_code ec;
  if (fs::exists(candidate, ec)) return candidate.lexically_normal().string();
  return path;
}

}  // namespace fusebox::config
