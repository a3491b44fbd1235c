// Qwen3RMSNorm, kernelizable as layer "RMSNorm". Used for input/post-attention norms, the
// final norm and the per-head q_norm/k_norm.
#pragma once

#include <torch/torch.h>

#include "kernels/kernelizable.h"

namespace fusebox::model {

class RMSNormImpl;

struct RMSNormLayer {
  static constexpr const char* kName = "RMSNorm";
  using Forward = torch::Tensor (*)(const RMSNormImpl& layer, const torch::Tensor& x);
};

// transformers' math: variance in fp32, x * rsqrt(var + eps) cast back to the input dtype,
// then multiplied by the weight in that dtype.
torch::Tensor rmsnorm_reference(const torch::Tensor& x, const torch::Tensor& weight, double eps);

class RMSNormImpl : public torch::nn::Module, public kernels::KernelSlot<RMSNormLayer> {
 public:
  RMSNormImpl(int64_t hidden_size, double eps);

  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor reference_forward(const torch::Tensor& x) const;

  int64_t hidden_size() const { return hidden_size_; }
  double eps() const { return eps_; }

  torch::Tensor weight;

 private:
  int64_t hidden_size_;
  double eps_;
};
TORCH_MODULE(RMSNorm);

}  // namespace fusebox::model
