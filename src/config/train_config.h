// The typed form of a training YAML file (keys follow LLaMA-Factory v1 where one exists).
// Defaults here are the defaults a user gets for an omitted key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fusebox::config {

// kernel_config: which fused kernels replace the reference forwards.
struct KernelConfig {
  // Kernel source: "auto" = the built-in registry (the only one for now).
  std::string name = "auto";
  // Normalised include_kernels: "false" (omitted, null, false, ""), "true", "auto", or a
  // comma-separated id list with whitespace stripped ("cpu_fused_rmsnorm,cpu_fused_swiglu").
  std::string include_kernels = "false";
  // "auto" (detect), "cpu" or "cuda".
  std::string device = "auto";
  // Every fallback (e.g. a kernel without backward in training) becomes an error.
  bool strict = false;
};

// The embedded synthetic task (train_dataset/eval_dataset: builtin:addition).
struct SyntheticConfig {
  int64_t max_digits = 3;      // operands are 0 .. 10^max_digits - 1
  int64_t train_size = 20000;  // examples per training epoch
  int64_t eval_size = 256;     // held-out examples (never in the training split)
};

struct TrainConfig {
  // Where the file came from; relative paths in it are resolved against config_dir.
  std::string source_path;
  std::string config_dir;

  std::string model;  // required: a config.json path (random init) or a model directory
  KernelConfig kernel_config;
  std::string train_dataset;  // required: "builtin:addition", a *.txt or a *.jsonl file
  std::string eval_dataset;   // optional; "" = no evaluation
  SyntheticConfig synthetic;
  // A tokenizer.json, a directory holding one, or "byte". "" = byte-level for builtin
  // datasets, else the model directory's tokenizer.json.
  std::string tokenizer;
  std::string text_field = "text";  // JSONL key holding a document's text
  // true: documents joined with eos and cut into cutoff_len rows; false: one row each.
  bool packing = false;
  std::string output_dir = "outputs/run";

  int64_t micro_batch_size = 8;
  int64_t gradient_accumulation_steps = 1;
  int64_t cutoff_len = 1024;
  double learning_rate = 1e-4;
  int64_t max_steps = -1;  // > 0 overrides num_train_epochs
  double num_train_epochs = 1.0;
  int64_t warmup_steps = 0;
  std::string lr_scheduler_type = "cosine";  // cosine | linear | constant
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;  // 0 disables clipping
  int64_t seed = 42;
  int64_t logging_steps = 10;
  int64_t eval_steps = 0;  // 0 = evaluate only at the end
  // bf16 compute with fp32 master weights and optimizer state (train/master_weights.h).
  bool bf16 = false;
  // Recompute each decoder layer's activations in the backward instead of keeping them.
  bool enable_activation_checkpointing = false;
  // The attention core without a kernel: eager | sdpa | auto (sdpa where libtorch has it).
  std::string attn_implementation = "auto";
  int64_t threads = 0;  // 0 = "auto" (all cores)
  std::string log_level = "info";

  // Checkpoints (output_dir/checkpoint-<step>/) and resuming.
  int64_t save_steps = 0;        // 0 = only the final checkpoint
  int64_t save_total_limit = 0;  // keep the newest N checkpoint-* dirs; 0 = keep all
  // "" = start fresh; "latest" = the newest checkpoint in output_dir; else a checkpoint dir.
  std::string resume_from_checkpoint;
  // A fresh run refuses an output_dir that holds an earlier run's checkpoints or
  // metrics.jsonl unless this is true (then they are deleted first).
  bool overwrite_output_dir = false;
  std::string run_name;               // title of loss_curve.svg; "" = output_dir's name
  std::string progress_bar = "auto";  // auto (when stderr is a terminal) | true | false
};

// Reads and validates a YAML file, then applies dotted command-line overrides
// ("kernel_config.include_kernels=false", "max_steps=20"). Throws fusebox::ConfigError with
// the file, line, key path and what was expected.
TrainConfig load_train_config(const std::string& path,
                              const std::vector<std::string>& overrides = {});

// Same, from text already in memory; `source_name` stands for the file in messages.
TrainConfig parse_train_config(const std::string& yaml_text, const std::string& source_name,
                               const std::vector<std::string>& overrides = {});

// Resolves a path from the config: absolute stays; relative is taken against config_dir when
// that file exists there, else against the working directory.
std::string resolve_path(const TrainConfig& cfg, const std::string& path);

// Every field as YAML, in the order above (source_path/config_dir are not keys). A run saves
// this next to its outputs; parse_train_config of it gives back the same values.
std::string to_yaml(const TrainConfig& cfg);

}  // namespace fusebox::config
