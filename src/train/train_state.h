// trainer_state.json: where a run stands, written into every checkpoint. It holds what a
// resumed run needs beyond weights, optimizer and RNG (step, data position, the unfinished
// logging window, time and tokens so far), the settings that decide the data order and the
// learning-rate schedule (checked on resume), and the log history (metrics.jsonl's records).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/train_config.h"
#include "data/batcher.h"

namespace fusebox::train {

struct TrainerState {
  int64_t global_step = 0;  // optimizer steps done
  int64_t total_steps = 0;  // of the whole run
  double epoch = 0;         // fractional: epoch + batch index / batches per epoch
  data::BatcherPosition batcher;
  int64_t batches_per_epoch = 0;
  int64_t tokens_seen = 0;   // input tokens, padding included
  double train_seconds = 0;  // wall time of all sessions so far
  // Steps since the last logging step and their summed loss, so that the first log line
  // after a resume averages the same steps as the uninterrupted run's.
  double window_loss_sum = 0;
  int64_t window_steps = 0;
  // The learning-rate schedule is a function of the step; these are its inputs, and the lr
  // of the last step done.
  std::string lr_scheduler_type;
  double base_learning_rate = 0;
  int64_t warmup_steps = 0;
  double last_learning_rate = 0;
  nlohmann::ordered_json settings;  // resume_settings() of the run's config
  std::vector<nlohmann::ordered_json> log_history;
};

// The settings that must not change for a resumed run to continue exactly: what decides
// the data order, the batches, the optimizer and the schedule.
nlohmann::ordered_json resume_settings(const config::TrainConfig& cfg);

// "key: saved X, now Y" for each setting that differs between a checkpoint and this run.
std::vector<std::string> changed_settings(const nlohmann::ordered_json& saved,
                                          const nlohmann::ordered_json& now);

std::string trainer_state_to_json(const TrainerState& state);

// Reads trainer_state.json. A file that is not JSON, or lacks a key or has one of the wrong
// type, is a DataError naming the file and the key.
TrainerState read_trainer_state(const std::string& path);

}  // namespace fusebox::train
