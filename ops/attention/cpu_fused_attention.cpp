// cpu_fused_attention: the attention core (layer "Attention") as one flash-attention-style pass
// per direction: causal softmax(q k^T * scaling) v with grouped-query heads, tiled over 64-row
// query blocks and 64-key blocks with an online softmax, so the [Sq x Sk] scores and
// probabilities are never materialised (memory linear in sequence length; the eager reference
// holds several [B, Hq, Sq, Sk] tensors). Fused: kv-head repeat (a q head reads its kv head in
// place), QK^T, scaling, causal mask (key blocks above the diagonal are skipped, not masked),
// softmax and PV.
// Causality follows the layer's contract: the Sq queries sit at the LAST Sq of the Sk key
// positions, so query i sees keys j <= i + (Sk - Sq); Sq = 1 decoding and prefill with a KV
// cache take the same path as training (Sq = Sk), backward included.
// Math: fp32 throughout (GEMM micro-kernel on packed fp32 tiles, vectorised exp); storage
// dtype fp32, bf16 or fp16 (q, k, v of one dtype), output in that dtype. In bf16/fp16 this is
// more accurate than the reference, which rounds the scores and the probabilities to the dtype.
// Layout: q [B, Hq, Sq, D], k/v [B, Hkv, Sk, D] with any strides over B, H and S -- the model
// passes transposed views of [B, S, H, D], which are read in place, not copied -- and unit
// stride over D (else copied once); output and gradients contiguous.
// Saved for backward: q, k, v (the caller's tensors), the output and the fp32 log-sum-exp per
// query row [B, Hq, Sq]; the backward recomputes the probabilities tile by tile
// (cpu_fused_attention_backward.cpp). Other dtypes or devices run the reference forward.
#include "ops/attention/cpu_fused_attention.h"

#include <torch/torch.h>

#include <mutex>
#include <string>

#include "kernels/register.h"
#include "model/attention_core.h"
#include "util/log.h"

namespace fusebox::ops {
namespace {

// The kernel reads rows in place whatever the other strides; only D must be unit-stride.
torch::Tensor unit_inner_stride(const torch::Tensor& t) {
  return t.stride(-1) == 1 ? t : t.contiguous();
}

class CpuAttentionFunction : public torch::autograd::Function<CpuAttentionFunction> {
 public:
  // q, k, v: one dtype, unit stride over D, shapes checked by check_shapes().
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& q,
                               const torch::Tensor& k, const torch::Tensor& v, double scaling) {
    auto out = torch::empty(q.sizes(), q.options());
    auto lse = torch::empty({q.size(0), q.size(1), q.size(2)}, q.options().dtype(torch::kFloat32));
    attention::forward(q, k, v, scaling, out, lse);
    ctx->save_for_backward({q, k, v, out, lse});
    ctx->saved_data["scaling"] = scaling;
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &out = saved[3], &lse = saved[4];
    auto dout = unit_inner_stride(grads[0].to(q.scalar_type()));
    // Contiguous (empty_like would copy the strides of transposed inputs).
    auto dq = torch::empty(q.sizes(), q.options()), dk = torch::empty(k.sizes(), k.options()),
         dv = torch::empty(v.sizes(), v.options());
    attention::backward(q, k, v, out, lse, dout, ctx->saved_data["scaling"].toDouble(), dq, dk, dv);
    return {dq, dk, dv, torch::Tensor()};
  }
};

// Shape errors are the caller's bug whatever the dtype: raised before any fallback.
void check_shapes(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
              "cpu_fused_attention: expected 4-D q [B, Hq, Sq, D] and k, v [B, Hkv, Sk, D], "
              "but got q ",
              q.sizes(), ", k ", k.sizes(), ", v ", v.sizes());
  TORCH_CHECK(k.sizes() == v.sizes(),
              "cpu_fused_attention: k and v must have the same shape, but got k ", k.sizes(),
              " and v ", v.sizes());
  TORCH_CHECK(q.size(0) == k.size(0), "cpu_fused_attention: q has batch ", q.size(0), " but k has ",
              k.size(0), " (q ", q.sizes(), ", k ", k.sizes(), ")");
  TORCH_CHECK(q.size(3) == k.size(3), "cpu_fused_attention: q has head_dim ", q.size(3),
              " but k has ", k.size(3), " (q ", q.sizes(), ", k ", k.sizes(), ")");
  TORCH_CHECK(k.size(1) > 0 && q.size(1) % k.size(1) == 0, "cpu_fused_attention: q has ", q.size(1),
              " heads, not a multiple of k's ", k.size(1), " kv heads (q ", q.sizes(), ", k ",
              k.sizes(), ")");
  TORCH_CHECK(q.size(2) <= k.size(2), "cpu_fused_attention: q has ", q.size(2),
              " positions but k only ", k.size(2),
              "; the queries must be the last Sq of the Sk key positions (q ", q.sizes(), ", k ",
              k.sizes(), ")");
}

// Why the kernel cannot take this call (dtype or device), or "" when it can.
std::string unhandled_reason(const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v) {
  if (!q.device().is_cpu() || !k.device().is_cpu() || !v.device().is_cpu())
    return "tensors are not all on the CPU";
  auto dt = q.scalar_type();
  if (dt != torch::kFloat32 && dt != torch::kBFloat16 && dt != torch::kHalf)
    return "dtype is not fp32/bf16/fp16";
  if (k.scalar_type() != dt || v.scalar_type() != dt) return "q, k and v have different dtypes";
  return "";
}

torch::Tensor cpu_fused_attention_forward(const model::AttentionCoreImpl& layer,
                                          const torch::Tensor& q, const torch::Tensor& k,
                                          const torch::Tensor& v, double scaling) {
  check_shapes(q, k, v);
  std::string why = unhandled_reason(q, k, v);
  if (!why.empty()) {
    static std::once_flag once;
    std::call_once(once, [&] {
      log::debug("cpu_fused_attention: ", why, " (q ", q.sizes(), " ", q.scalar_type(), " on ",
                 q.device(), ", k ", k.scalar_type(), ", v ", v.scalar_type(),
                 "); using the reference forward");
    });
    return layer.reference_forward(q, k, v, scaling);
  }
  return CpuAttentionFunction::apply(unit_inner_stride(q), unit_inner_stride(k),
                                     unit_inner_stride(v), scaling);
}

}  // namespace

torch::Tensor cpu_fused_attention(const torch::Tensor& q, const torch::Tensor& k,
                                  const torch::Tensor& v, double scaling) {
  check_shapes(q, k, v);
  std::string why = unhandled_reason(q, k, v);
  TORCH_CHECK(why.empty(), "cpu_fused_attention: ", why, " (q ", q.sizes(), " ", q.scalar_type(),
              " on ", q.device(), ")");
  return CpuAttentionFunction::apply(unit_inner_stride(q), unit_inner_stride(k),
                                     unit_inner_stride(v), scaling);
}

}  // namespace fusebox::ops

FUSEBOX_REGISTER_KERNEL(fusebox::model::AttentionLayer, fusebox::ops::cpu_fused_attention_forward,
                        fusebox::kernels::KernelInfo("cpu_fused_attention")
                            .device(fusebox::kernels::DeviceType::kCPU)
                            .backward(true)
                            .default_enabled(true)
                            .priority(10)
                            .description("causal GQA attention, flash-style tiles with an online "
                                         "softmax; backward recomputes P from the log-sum-exp"));
