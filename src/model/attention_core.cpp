#include "model/attention_core.h"

#include <torch/version.h>

#include "model/attention.h"
#include "util/error.h"
#include "util/strings.h"

namespace fusebox::model {

bool sdpa_available() {
  return TORCH_VERSION_MAJOR >= 2;
}

AttentionImplementation parse_attention_implementation(const std::string& name) {
  if (name == "eager") return AttentionImplementation::kEager;
  if (name == "auto")
    return sdpa_available() ? AttentionImplementation::kSdpa : AttentionImplementation::kEager;
  if (name == "sdpa") {
    if (!sdpa_available())
      throw ConfigError(str("attn_implementation: 'sdpa' needs libtorch 2.0 or later; this ",
                            "build uses libtorch ", TORCH_VERSION,
                            ". Use 'eager', or 'auto' to pick sdpa where it exists"));
    return AttentionImplementation::kSdpa;
  }
  throw ConfigError(
      str("attn_implementation: unknown value '", name, "'; expected eager, sdpa or auto"));
}

const char* attention_implementation_name(AttentionImplementation impl) {
  return impl == AttentionImplementation::kSdpa ? "sdpa" : "eager";
}

torch::Tensor sdpa_causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                                    const torch::Tensor& v, double scaling) {
#if TORCH_VERSION_MAJOR >= 2
  int64_t s_q = q.size(2), s_k = k.size(2);
  // SDPA's is_causal aligns the mask top-left; our queries sit at the END of the keys
  // (bottom-right), which agrees only when Sq == Sk. One query sees every key; other shapes
  // get an explicit mask.
  bool is_causal = s_q == s_k;
  std::optional<torch::Tensor> mask;
  if (s_q != s_k && s_q > 1)
    mask = torch::ones({s_q, s_k}, q.options().dtype(torch::kBool)).tril(s_k - s_q);
  int64_t n_rep = q.size(1) / k.size(1);
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, is_causal, scaling,
                                          /*enable_gqa=*/n_rep > 1);
#else
  return at::scaled_dot_product_attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep), mask, 0.0,
                                          is_causal, scaling);
#endif
#else
  (void)q, (void)k, (void)v, (void)scaling;
  throw ConfigError(
      str("attn_implementation 'sdpa' is not available with libtorch ", TORCH_VERSION));
#endif
}

torch::Tensor AttentionCoreImpl::forward(const torch::Tensor& q, const torch::Tensor& k,
                                         const torch::Tensor& v, double scaling) {
  if (auto kernel = kernel_forward()) return kernel(*this, q, k, v, scaling);
  return reference_forward(q, k, v, scaling);
}

torch::Tensor AttentionCoreImpl::reference_forward(const torch::Tensor& q, const torch::Tensor& k,
                                                   const torch::Tensor& v, double scaling) const {
  if (impl_ == AttentionImplementation::kSdpa) return sdpa_causal_attention(q, k, v, scaling);
  return eager_causal_attention(q, k, v, scaling);
}

int set_attention_implementation(torch::nn::Module& model, AttentionImplementation impl) {
  int count = 0;
  for (auto& m : model.modules(/*include_self=*/true)) {
    if (auto* core = m->as<AttentionCoreImpl>()) {
      core->set_implementation(impl);
      ++count;
    }
  }
  return count;
}

}  // namespace fusebox::model
