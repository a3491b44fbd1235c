#include "model/attention.h"

#include <limits>

namespace fusebox::model {

torch::Tensor repeat_kv(const torch::Tensor& x, int64_t n_rep) {
  if (n_rep == 1) return x;
  auto b = x.size(0), h = x.size(1), s = x.size(2), d = x.size(3);
  return x.unsqueeze(2).expand({b, h, n_rep, s, d}).reshape({b, h * n_rep, s, d});
}

double lowest_finite(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kBFloat16:
      return -3.3895313892515355e38;
    case torch::kHalf:
      return -65504.0;
    case torch::kDouble:
      return std::numeric_limits<double>::lowest();
    default:
      return std::numeric_limits<float>::lowest();
  }
}

torch::Tensor eager_causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                                     const torch::Tensor& v, double scaling) {
  int64_t n_rep = q.size(1) / k.size(1);
  auto keys = repeat_kv(k, n_rep);
  auto values = repeat_kv(v, n_rep);
  auto scores = torch::matmul(q, keys.transpose(2, 3)) * scaling;
  int64_t s_q = q.size(2), s_k = k.size(2);
  // transformers adds the dtype's lowest finite value above the diagonal (not -inf), so
  // that a fully masked row cannot produce NaN.
  double lowest = lowest_finite(scores.scalar_type());
  auto mask = torch::full({s_q, s_k}, lowest, scores.options()).triu(s_k - s_q + 1);
  scores = scores + mask;
  auto probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  return torch::matmul(probs, values);
}

Qwen3AttentionImpl::Qwen3AttentionImpl(const Qwen3Config& c)
    : num_heads_(c.num_attention_heads),
      num_kv_heads_(c.num_key_value_heads),
      head_dim_(c.head_dim),
      scaling_(1.0 / std::sqrt(static_cast<double>(c.head_dim))) {
  auto linear = [&](int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(c.attention_bias));
  };
  q_proj = register_module("q_proj", linear(c.hidden_size, num_heads_ * head_dim_));
  k_proj = register_module("k_proj", linear(c.hidden_size, num_kv_heads_ * head_dim_));
  v_proj = register_module("v_proj", linear(c.hidden_size, num_kv_heads_ * head_dim_));
  o_proj = register_module("o_proj", linear(num_heads_ * head_dim_, c.hidden_size));
  q_norm = register_module("q_norm", RMSNorm(head_dim_, c.rms_norm_eps));
  k_norm = register_module("k_norm", RMSNorm(head_dim_, c.rms_norm_eps));
  rotary = register_module("rotary_emb", RotaryEmbedding(head_dim_, c.rope_theta));
  core = register_module("attention", AttentionCore());
}

torch::Tensor Qwen3AttentionImpl::forward(const torch::Tensor& hidden,
                                          const torch::Tensor& position_ids, LayerKVCache* cache,
                                          int64_t cache_length) {
  auto b = hidden.size(0), s = hidden.size(1);
  // q_norm/k_norm see [B, S, heads, head_dim]: normalised per head before the transpose.
  auto q = q_norm(q_proj(hidden).view({b, s, num_heads_, head_dim_})).transpose(1, 2);
  auto k = k_norm(k_proj(hidden).view({b, s, num_kv_heads_, head_dim_})).transpose(1, 2);
  auto v = v_proj(hidden).view({b, s, num_kv_heads_, head_dim_}).transpose(1, 2);
  auto [q_rot, k_rot] = rotary(q, k, position_ids);
  if (cache) {
    // The mask of eager_causal_attention puts the S queries at the last S key positions,
    // which is where they are once appended.
    cache->keys.narrow(2, cache_length, s).copy_(k_rot);
    cache->values.narrow(2, cache_length, s).copy_(v);
    k_rot = cache->keys.narrow(2, 0, cache_length + s);
    v = cache->values.narrow(2, 0, cache_length + s);
  }
  auto out = core(q_rot, k_rot, v, scaling_);
  return o_proj(out.transpose(1, 2).contiguous().view({b, s, num_heads_ * head_dim_}));
}

}  // namespace fusebox::model
