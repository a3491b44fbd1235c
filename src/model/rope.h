// Rotary position embedding (Qwen3RotaryEmbedding + apply_rotary_pos_emb), kernelizable as
// layer "RoPE". One instance per attention layer; it rotates q and k together.
#pragma once

#include <torch/torch.h>

#include <tuple>

#include "kernels/kernelizable.h"

namespace fusebox::model {

class RotaryEmbeddingImpl;

struct RoPELayer {
  static constexpr const char* kName = "RoPE";
  // q: [batch, q_heads, seq, head_dim], k: [batch, kv_heads, seq, head_dim] (any strides),
  // position_ids: int64 [batch, seq]. Returns the rotated (q, k).
  using Forward = std::tuple<torch::Tensor, torch::Tensor> (*)(const RotaryEmbeddingImpl& layer,
                                                               const torch::Tensor& q,
                                                               const torch::Tensor& k,
                                                               const torch::Tensor& position_ids);
};

// [x1, x2] -> [-x2, x1] over the last dimension (halves, not interleaved pairs).
torch::Tensor rotate_half(const torch::Tensor& x);

class RotaryEmbeddingImpl : public torch::nn::Module, public kernels::KernelSlot<RoPELayer> {
 public:
  RotaryEmbeddingImpl(int64_t head_dim, double rope_theta);

  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& q, const torch::Tensor& k,
                                                   const torch::Tensor& position_ids);
  std::tuple<torch::Tensor, torch::Tensor> reference_forward(
      const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& position_ids) const;

  // 1 / theta^(2i/d), fp32, [head_dim/2]: computed as transformers does (int64 arange cast to
  // fp32, then a float power), so tables agree bit for bit.
  torch::Tensor inv_freq(const torch::Device& device) const;
  // fp32 cos and sin for position_ids: [batch, seq, head_dim] each.
  std::tuple<torch::Tensor, torch::Tensor> cos_sin(const torch::Tensor& position_ids) const;

  int64_t head_dim() const { return head_dim_; }
  double rope_theta() const { return rope_theta_; }

 private:
  int64_t head_dim_;
  double rope_theta_;
};
TORCH_MODULE(RotaryEmbedding);

}  // namespace fusebox::model
