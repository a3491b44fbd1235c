#include "model/rope.h"

namespace fusebox::model {

torch::Tensor rotate_half(const torch::Tensor& x) {
  int64_t half = x.size(-1) / 2;
  auto x1 = x.slice(-1, 0, half);
  auto x2 = x.slice(-1, half);
  return torch::cat({-x2, x1}, -1);
}

RotaryEmbeddingImpl::RotaryEmbeddingImpl(int64_t head_dim, double rope_theta)
    : head_dim_(head_dim), rope_theta_(rope_theta) {}

torch::Tensor RotaryEmbeddingImpl::inv_freq(const torch::Device& device) const {
  auto exponent = torch::arange(0, head_dim_, 2, torch::TensorOptions().dtype(torch::kInt64))
                      .to(device, torch::kFloat32) /
                  static_cast<double>(head_dim_);
  return 1.0 / torch::pow(rope_theta_, exponent);
}

std::tuple<torch::Tensor, torch::Tensor> RotaryEmbeddingImpl::cos_sin(
    const torch::Tensor& position_ids) const {
  auto freqs = position_ids.to(torch::kFloat32).unsqueeze(-1) *
               inv_freq(position_ids.device()).view({1, 1, -1});  // [B, S, D/2]
  auto emb = torch::cat({freqs, freqs}, -1);                      // [B, S, D]
  return {emb.cos(), emb.sin()};
}

std::tuple<torch::Tensor, torch::Tensor> RotaryEmbeddingImpl::forward(
    const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& position_ids) {
  if (auto kernel = kernel_forward()) return kernel(*this, q, k, position_ids);
  return reference_forward(q, k, position_ids);
}

std::tuple<torch::Tensor, torch::Tensor> RotaryEmbeddingImpl::reference_forward(
    const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& position_ids) const {
  auto [cos32, sin32] = cos_sin(position_ids);
  // transformers casts the fp32 table to the activations' dtype before the rotation.
  auto cos = cos32.to(q.scalar_type()).unsqueeze(1);  // [B, 1, S, D]
  auto sin = sin32.to(q.scalar_type()).unsqueeze(1);
  auto q_rot = q * cos + rotate_half(q) * sin;
  auto k_rot = k * cos + rotate_half(k) * sin;
  return {q_rot, k_rot};
}

}  // namespace fusebox::model
