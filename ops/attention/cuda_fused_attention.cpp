// cuda_fused_attention: the Attention layer on CUDA through libtorch's
// scaled_dot_product_attention, which picks the best fused backend for the shape and dtype
// (FlashAttention-2 for bf16/fp16 with head_dim <= 256, memory-efficient attention otherwise,
// cuDNN where enabled) -- never the [Sq x Sk] scores in memory for the flash and
// memory-efficient backends. GQA goes in as it is (enable_gqa), so kv heads are not copied.
//
// A wrapper, not our own kernel: the issue allows that until one of ours measures faster.
// Backward is SDPA's own. Causal alignment and the decode case (Sq < Sk) follow the layer's
// contract (model/attention_core.h). Compiled only with a CUDA libtorch (>= 2.0 has SDPA).
#include <torch/torch.h>

#include <mutex>

#include "kernels/register.h"
#include "model/attention_core.h"
#include "util/log.h"

namespace fusebox::ops {
namespace {

torch::Tensor cuda_fused_attention_forward(const model::AttentionCoreImpl& layer,
                                           const torch::Tensor& q, const torch::Tensor& k,
                                           const torch::Tensor& v, double scaling) {
  if (!q.is_cuda() || !k.is_cuda() || !v.is_cuda()) {
    static std::once_flag once;
    std::call_once(once, [&] {
      log::debug("cuda_fused_attention: inputs on ", q.device(),
                 " are not handled; using the reference forward");
    });
    return layer.reference_forward(q, k, v, scaling);
  }
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
              "cuda_fused_attention: expected q, k, v of rank 4 [B, H, S, D], got q ", q.sizes(),
              ", k ", k.sizes(), ", v ", v.sizes());
  TORCH_CHECK(q.size(1) % k.size(1) == 0, "cuda_fused_attention: q has ", q.size(1),
              " heads, not a multiple of k's ", k.size(1), " kv heads (q ", q.sizes(), ", k ",
              k.sizes(), ")");
  TORCH_CHECK(q.size(2) <= k.size(2), "cuda_fused_attention: ", q.size(2), " queries for ",
              k.size(2), " keys; the queries must be the last of the keys");
  return model::sdpa_causal_attention(q, k, v, scaling);
}

}  // namespace
}  // namespace fusebox::ops

FUSEBOX_REGISTER_KERNEL(fusebox::model::AttentionLayer, fusebox::ops::cuda_fused_attention_forward,
                        fusebox::kernels::KernelInfo("cuda_fused_attention")
                            .device(fusebox::kernels::DeviceType::kCUDA)
                            .backward(true)
                            .default_enabled(true)
                            .priority(10)
                            .description("causal GQA attention on CUDA through libtorch SDPA "
                                         "(flash / memory-efficient backends)"));
