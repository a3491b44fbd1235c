// bf16 mixed precision with fp32 master weights (bf16: true), the llm.c / Megatron recipe:
// the model's parameters are bf16, so every forward and backward (and every fused kernel)
// runs in bf16; the optimizer steps fp32 copies of them (the masters) and keeps its moments
// in fp32, so small updates are not lost to bf16's 8-bit mantissa. Per micro-batch the bf16
// gradients are added into fp32 master gradients (accumulation in fp32 too); after the step
// the masters are rounded into the bf16 parameters.
//
// With compute dtype fp32 nothing is copied: the optimizer steps the model's own parameters
// and every call here is a no-op, so the trainer has one code path.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace fusebox::train {

class MasterWeights {
 public:
  // Casts the model's floating-point parameters (and buffers) to compute_dtype (kFloat32 or
  // kBFloat16) after taking fp32 copies of them. Call once, before building the optimizer.
  MasterWeights(torch::nn::Module& model, torch::ScalarType compute_dtype);

  bool enabled() const { return enabled_; }
  torch::ScalarType compute_dtype() const { return compute_dtype_; }

  // What the optimizer steps and checkpoints store: (name, tensor) in the model's parameter
  // order -- the fp32 masters when enabled, else the model's parameters themselves.
  const torch::OrderedDict<std::string, torch::Tensor>& optimizer_parameters() const {
    return optimizer_params_;
  }

  // After each micro-batch's backward: master.grad += param.grad (fp32), param.grad cleared.
  void accumulate_gradients();
  // Before a step's first micro-batch: master (or param) gradients set to zero.
  void zero_gradients();
  // After optimizer.step(): param = round_to_compute_dtype(master).
  void copy_masters_to_model();
  // Runs fn with the model's parameters temporarily holding the fp32 masters (so a
  // checkpoint saves full-precision weights), then puts the compute-dtype tensors back.
  template <typename Fn>
  void with_master_weights(Fn&& fn) {
    if (!enabled_) return fn();
    swap_in_masters(true);
    try {
      fn();
    } catch (...) {
      swap_in_masters(false);
      throw;
    }
    swap_in_masters(false);
  }

 private:
  void swap_in_masters(bool masters);

  torch::nn::Module& model_;
  torch::ScalarType compute_dtype_;
  bool enabled_;
  std::vector<torch::Tensor> model_params_;  // same order as optimizer_params_
  torch::OrderedDict<std::string, torch::Tensor> optimizer_params_;
  std::vector<torch::Tensor> parked_;  // the compute-dtype data while masters are swapped in
};

}  // namespace fusebox::train
