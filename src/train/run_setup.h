// Everything a run needs before its first step: device and threads, the checkpoint to resume
// from (found first, so a wrong path fails in a second rather than after the model is built),
// the model with its kernels, data, optimizer, the trainer state (fresh or from the
// checkpoint, checked against the config) and metrics.jsonl.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>

#include "config/train_config.h"
#include "data/batcher.h"
#include "data/dataset.h"
#include "data/tokenizer.h"
#include "kernels/kernelize.h"
#include "model/qwen3.h"
#include "train/master_weights.h"
#include "train/metrics_log.h"
#include "train/train_state.h"

namespace fusebox::train {

struct RunSetup {
  torch::Device device{torch::kCPU};
  model::Qwen3ForCausalLM model{nullptr};
  // What the optimizer steps: the model's parameters, or fp32 masters under bf16.
  std::unique_ptr<MasterWeights> master;
  std::unique_ptr<data::Tokenizer> tokenizer;
  std::unique_ptr<data::Dataset> train_set;
  std::unique_ptr<data::Dataset> eval_set;  // null without eval_dataset
  std::unique_ptr<data::Batcher> batcher;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  int64_t total_steps = 0;
  std::string resume_dir;  // "" for a fresh run
  int64_t resume_step = 0;
  TrainerState state;
  std::optional<MetricsLog> metrics;  // none when output_dir is ""
};

// Throws fusebox::Error subclasses (ConfigError, DataError, KernelError) naming what is wrong.
RunSetup set_up_run(const config::TrainConfig& cfg, kernels::KernelizeReport* kernels);

// The optimizer steps of a run: max_steps, else num_train_epochs over the batches.
int64_t total_steps_of(const config::TrainConfig& cfg, int64_t batches_per_epoch);

}  // namespace fusebox::train
