// The training run behind `train --config x.yaml`: builds the model, kernelizes it for
// TRAINING, and runs AdamW with warmup + decay, clipping and gradient accumulation.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "config/train_config.h"
#include "kernels/kernelize.h"
#include "train/evaluator.h"

namespace fusebox::train {

struct StepRecord {
  int64_t step = 0;  // 1-based optimizer step
  double loss = 0;   // mean token loss of the step's (accumulated) batch
  double lr = 0;
  double grad_norm = 0;
};

struct TrainResult {
  std::vector<StepRecord> steps;
  kernels::KernelizeReport kernels;
  std::optional<EvalResult> initial_eval;
  std::optional<EvalResult> final_eval;
  double seconds = 0;
  double tokens_per_second = 0;
  int64_t peak_rss_bytes = 0;  // process high-water mark at the end of training
  std::string checkpoint_dir;  // where the final checkpoint went; "" when output_dir is ""
};

// Runs the whole job. Throws fusebox::Error subclasses for bad config or data.
TrainResult run_training(const config::TrainConfig& cfg);

}  // namespace fusebox::train
