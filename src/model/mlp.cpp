#include "model/mlp.h"

namespace fusebox::model {

Qwen3MLPImpl::Qwen3MLPImpl(int64_t hidden_size, int64_t intermediate_size)
    : hidden_size_(hidden_size), intermediate_size_(intermediate_size) {
  auto linear = [](int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
  };
  gate_proj = register_module("gate_proj", linear(hidden_size, intermediate_size));
  up_proj = register_module("up_proj", linear(hidden_size, intermediate_size));
  down_proj = register_module("down_proj", linear(intermediate_size, hidden_size));
}

torch::Tensor Qwen3MLPImpl::forward(const torch::Tensor& x) {
  if (auto kernel = kernel_forward()) return kernel(*this, x);
  return reference_forward(x);
}

torch::Tensor Qwen3MLPImpl::reference_forward(const torch::Tensor& x) const {
  auto gate = torch::silu(torch::linear(x, gate_proj->weight));
  auto up = torch::linear(x, up_proj->weight);
  return torch::linear(gate * up, down_proj->weight);
}

}  // namespace fusebox::model
