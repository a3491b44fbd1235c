// AdamW's state in a checkpoint: optimizer.safetensors with, for every parameter that has
// been stepped, exp_avg.<name>, exp_avg_sq.<name> (max_exp_avg_sq.<name> with amsgrad) and
// step.<name> (int64 scalar), keyed by the parameter's name rather than its position, so a
// checkpoint stays readable when parameters are regrouped and a mismatch names the tensor.
// rng_state.safetensors: the torch generators' states ("cpu", "cuda:<i>").
#pragma once

#include <torch/torch.h>

#include <string>

namespace fusebox::train {

using NamedParameters = torch::OrderedDict<std::string, torch::Tensor>;

inline constexpr const char* kOptimizerStateName = "optimizer.safetensors";
inline constexpr const char* kRngStateName = "rng_state.safetensors";

// Writes the state of every parameter in `params` that has one (all of them after the
// first step). Throws DataError on I/O failure.
void save_adamw_state(const torch::optim::AdamW& optimizer, const NamedParameters& params,
                      const std::string& path);

// Replaces the optimizer's state with the file's. Everything is checked before anything is
// set: a missing file, a parameter without state, state for a parameter the model lacks, a
// shape that differs from the parameter's (both shapes named) or a bad step count is a
// DataError naming the file and the tensor.
void load_adamw_state(torch::optim::AdamW& optimizer, const NamedParameters& params,
                      const std::string& path);

// The default CPU generator's state, and every CUDA device's when `device` is CUDA.
void save_rng_state(const torch::Device& device, const std::string& path);
// Restores what save_rng_state wrote. A CUDA state for a device this run does not use is
// skipped with a log line (a checkpoint from a GPU resumed on the CPU).
void load_rng_state(const torch::Device& device, const std::string& path);

}  // namespace fusebox::train
