// Qwen3Attention: q/k/v projections, per-head q_norm/k_norm (RMSNorm over head_dim) before
// RoPE, grouped-query attention with a causal mask, eager softmax in fp32, o_proj.
#pragma once

#include <torch/torch.h>

#include "model/attention_core.h"
#include "model/kv_cache.h"
#include "model/qwen3_config.h"
#include "model/rmsnorm.h"
#include "model/rope.h"

namespace fusebox::model {

// The dtype's lowest finite value: what transformers' masks use instead of -inf, so a
// fully masked row cannot produce NaN.
double lowest_finite(torch::ScalarType dtype);

// The eager attention core of transformers: q [B, Hq, S, D], k/v [B, Hkv, S, D]; kv heads
// are repeated to Hq; scores in the activation dtype plus a causal mask of the dtype's
// lowest value; softmax in fp32 cast back. Returns [B, Hq, S, D].
torch::Tensor eager_causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                                     const torch::Tensor& v, double scaling);

// [B, Hkv, S, D] -> [B, Hkv * n_rep, S, D], each kv head repeated n_rep times in place.
torch::Tensor repeat_kv(const torch::Tensor& x, int64_t n_rep);

class Qwen3AttentionImpl : public torch::nn::Module {
 public:
  explicit Qwen3AttentionImpl(const Qwen3Config& config);

  // hidden: [B, S, hidden]; position_ids: int64 [B, S]. With a cache, the S new keys and
  // values are stored at positions [cache_length, cache_length + S) of `cache` and the
  // queries attend to every cached position (causally among the new ones).
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& position_ids,
                        LayerKVCache* cache = nullptr, int64_t cache_length = 0);

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};
  RotaryEmbedding rotary{nullptr};
  // The kernelizable softmax(q k^T) v part; no parameters, so no checkpoint key.
  AttentionCore core{nullptr};

 private:
  int64_t num_heads_;
  int64_t num_kv_heads_;
  int64_t head_dim_;
  double scaling_;
};
TORCH_MODULE(Qwen3Attention);

}  // namespace fusebox::model
