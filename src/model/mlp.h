// Qwen3MLP (SwiGLU), kernelizable as layer "MLP": down_proj(silu(gate_proj(x)) * up_proj(x)).
#pragma once

#include <torch/torch.h>

#include "kernels/kernelizable.h"

namespace fusebox::model {

class Qwen3MLPImpl;

struct MLPLayer {
  static constexpr const char* kName = "MLP";
  using Forward = torch::Tensor (*)(const Qwen3MLPImpl& layer, const torch::Tensor& x);
};

class Qwen3MLPImpl : public torch::nn::Module, public kernels::KernelSlot<MLPLayer> {
 public:
  Qwen3MLPImpl(int64_t hidden_size, int64_t intermediate_size);

  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor reference_forward(const torch::Tensor& x) const;

  int64_t hidden_size() const { return hidden_size_; }
  int64_t intermediate_size() const { return intermediate_size_; }

  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};

 private:
  int64_t hidden_size_;
  int64_t intermediate_size_;
};
TORCH_MODULE(Qwen3MLP);

}  // namespace fusebox::model
