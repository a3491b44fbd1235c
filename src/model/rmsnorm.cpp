#include "model/rmsnorm.h"

namespace fusebox::model {

torch::Tensor rmsnorm_reference(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  auto input_dtype = x.scalar_type();
  auto h = x.to(torch::kFloat32);
  auto variance = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * torch::rsqrt(variance + eps);
  return weight * h.to(input_dtype);
}

RMSNormImpl::RMSNormImpl(int64_t hidden_size, double eps) : hidden_size_(hidden_size), eps_(eps) {
  weight = register_parameter("weight", torch::ones({hidden_size}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  if (auto kernel = kernel_forward()) return kernel(*this, x);
  return reference_forward(x);
}

torch::Tensor RMSNormImpl::reference_forward(const torch::Tensor& x) const {
  return rmsnorm_reference(x, weight, eps_);
}

}  // namespace fusebox::model
