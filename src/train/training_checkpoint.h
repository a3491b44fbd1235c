// A training checkpoint, output_dir/checkpoint-<step>/: a Hugging Face model directory
// (config.json + model.safetensors, exactly as the final save) plus what a resumed run needs
// to continue exactly: optimizer.safetensors (AdamW moments and steps by parameter name),
// rng_state.safetensors, trainer_state.json (step, data position, schedule, log history) and
// training_config.yaml (the config the run used, for people). The directory is written
// beside its place and renamed into it, so it appears whole or not at all.
#pragma once

#include <torch/torch.h>

#include <string>

#include "config/train_config.h"
#include "model/qwen3.h"
#include "train/master_weights.h"
#include "train/train_state.h"

namespace fusebox::train {

inline constexpr const char* kTrainingConfigName = "training_config.yaml";

struct TrainingSnapshot {
  const model::Qwen3ForCausalLM* model;
  // Under bf16 the checkpoint holds the fp32 masters (weights and optimizer state by name).
  MasterWeights* master;
  // The run's tokenizer.json ("" for the byte-level tokenizer): copied into the checkpoint
  // with the tokenizer_config.json beside it, so the saved model directory is usable alone.
  std::string tokenizer_json;
  const torch::optim::AdamW* optimizer;
  const TrainerState* state;
  const config::TrainConfig* config;
  torch::Device device;
};

// Writes the checkpoint to `dir` atomically, replacing an earlier one of the same name.
// trainer_state.json is written last, so even a directory copied by hand while incomplete
// is never taken for a checkpoint. Throws DataError.
void save_training_checkpoint(const std::string& dir, const TrainingSnapshot& snapshot);

// Loads a checkpoint into `model` and `optimizer` (already built from the run's config) and
// restores the RNG states; returns its trainer state. Checks run before the first change
// where they can: trainer_state.json must parse, the weights must match the model (tensor,
// both shapes), optimizer state must exist for every parameter. Throws DataError naming the
// file.
TrainerState load_training_checkpoint(const std::string& dir, model::Qwen3ForCausalLM& model,
                                      MasterWeights& master, torch::optim::AdamW& optimizer,
                                      const torch::Device& device);

}  // namespace fusebox::train
