// The attention core -- softmax(q k^T * scaling + causal mask) v with grouped-query heads --
// as a kernelizable layer, "Attention". The projections, q/k norms and RoPE around it stay in
// Qwen3Attention; only this part is swapped, so a fused kernel (flash-style tiling, a
// libtorch SDPA backend) sees exactly the tensors transformers' attention_interface sees.
//
// Implementations without a kernel (transformers' attn_implementation):
//   eager -- the reference: kv heads repeated, scores in the activation dtype with a causal
//            mask of the dtype's lowest value, fp32 softmax (eager_causal_attention()).
//   sdpa  -- libtorch's scaled_dot_product_attention (flash / memory-efficient / cuDNN
//            backends on GPU); libtorch >= 2.0 only.
#pragma once

#include <torch/torch.h>

#include <string>

#include "kernels/kernelizable.h"

namespace fusebox::model {

class AttentionCoreImpl;

struct AttentionLayer {
  static constexpr const char* kName = "Attention";
  // q [B, Hq, Sq, D], k and v [B, Hkv, Sk, D] with Hq % Hkv == 0 and Sq <= Sk. Causal, with
  // the Sq queries at the LAST Sq of the Sk key positions (Sq == Sk in training; Sq < Sk when
  // decoding with a KV cache). Returns [B, Hq, Sq, D] in q's dtype.
  using Forward = torch::Tensor (*)(const AttentionCoreImpl& layer, const torch::Tensor& q,
                                    const torch::Tensor& k, const torch::Tensor& v, double scaling);
};

enum class AttentionImplementation { kEager, kSdpa };

// "eager" | "sdpa" | "auto" (sdpa where this libtorch has it, else eager). Throws
// fusebox::ConfigError for another name, or for "sdpa" on a libtorch without it.
AttentionImplementation parse_attention_implementation(const std::string& name);
const char* attention_implementation_name(AttentionImplementation impl);
// Whether this libtorch has scaled_dot_product_attention (2.0 and later).
bool sdpa_available();

// libtorch's SDPA with the same contract as the Attention slot (GQA and the bottom-right
// causal alignment included). Throws fusebox::ConfigError where unavailable.
torch::Tensor sdpa_causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                                    const torch::Tensor& v, double scaling);

// The same contract for queries that continue a KV cache (Sq < Sk), as grouped matmuls: each
// kv head's n_rep query heads share one matmul with its keys, so the cache is never
// repeated. What sdpa_causal_attention uses for decoding; any libtorch version.
torch::Tensor grouped_continuation_attention(const torch::Tensor& q, const torch::Tensor& k,
                                             const torch::Tensor& v, double scaling);

class AttentionCoreImpl : public torch::nn::Module, public kernels::KernelSlot<AttentionLayer> {
 public:
  AttentionCoreImpl() = default;

  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        double scaling);
  // The non-kernel path: eager or sdpa, as set_implementation() chose.
  torch::Tensor reference_forward(const torch::Tensor& q, const torch::Tensor& k,
                                  const torch::Tensor& v, double scaling) const;

  void set_implementation(AttentionImplementation impl) { impl_ = impl; }
  AttentionImplementation implementation() const { return impl_; }

 private:
  AttentionImplementation impl_ = AttentionImplementation::kEager;
};
TORCH_MODULE(AttentionCore);

// Sets the implementation of every AttentionCore in `model`; returns how many it set.
int set_attention_implementation(torch::nn::Module& model, AttentionImplementation impl);

}  // namespace fusebox::model
