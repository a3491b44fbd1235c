// The training run behind `train --config x.yaml`: builds the model, kernelizes it for
// TRAINING, and runs AdamW with warmup + decay, clipping and gradient accumulation; saves
// checkpoints, resumes from one, stops cleanly on SIGINT/SIGTERM, and writes metrics.jsonl
// and loss_curve.svg into output_dir.
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
  std::vector<StepRecord> steps;  // the steps this call ran (after the resumed step, if any)
  kernels::KernelizeReport kernels;
  std::optional<EvalResult> initial_eval;
  std::optional<EvalResult> final_eval;
  double seconds = 0;
  double tokens_per_second = 0;
  int64_t peak_rss_bytes = 0;   // process high-water mark at the end of training
  std::string checkpoint_dir;   // where the final model went; "" when output_dir is "" or stopped
  std::string resumed_from;     // the checkpoint this run resumed from; "" for a fresh run
  std::string last_checkpoint;  // the newest checkpoint-<step> saved; "" when none
  // SIGINT/SIGTERM stopped the run: the signal's number (the program exits 128 + it).
  int stopped_by_signal = 0;
};

// Runs the whole job. Throws fusebox::Error subclasses for bad config or data.
TrainResult run_training(const config::TrainConfig& cfg);

}  // namespace fusebox::train
