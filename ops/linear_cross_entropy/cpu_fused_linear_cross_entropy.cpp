// cpu_fused_linear_cross_entropy: the LM head projection and the next-token cross-entropy in
// one pass over chunks of tokens, so the [tokens x vocab] logits never exist in full.
//
// Row i of hidden (flattened [B*S, H]) predicts target t_i = labels[b, s+1]; the last position
// of each sequence and kIgnoreIndex targets contribute nothing. Per chunk of rows:
//   z = x W^T (fp32; bf16 inputs: a bf16 GEMM with fp32 accumulation, rounded to bf16 as the
//       reference's linear() is, then upcast);  m = max_j z_j;  e = exp(z - m);  s = sum_j e_j
//   loss_i = m + log(s) - z_{t_i}
//   dz = (e / s - onehot(t_i)) * valid_i / normalizer     (bf16: rounded to bf16, as autograd
//                                                           casts the reference's dlogits)
//   dx_chunk = dz W;   dW += dz^T x_chunk                  (dW accumulated in fp32)
// The gradients are computed in the forward (Liger-Kernel's trick): backward needs dz, and
// keeping dz would cost as much as keeping the logits. Saved for backward: dx ([B*S, H], input
// dtype) and dW ([V, H], fp32) only, both already scaled by 1/normalizer; backward multiplies
// them by the incoming scalar gradient. Nothing is computed for gradients nobody asked for.
// Peak added memory: one chunk of logits (chunk x V fp32, plus a bf16 copy for bf16) + dW + dx.
// Dtypes: fp32 and bf16 (hidden and weight of one dtype) on CPU; anything else falls back to the
// reference forward. Layout: any; hidden is made contiguous [B*S, H] at entry.
#include "ops/linear_cross_entropy/cpu_fused_linear_cross_entropy.h"

#include <algorithm>
#include <mutex>

#include "kernels/register.h"
#include "model/lm_head_loss.h"
#include "model/loss.h"
#include "util/log.h"

namespace fusebox::ops {
namespace {

struct Grads {
  torch::Tensor dx;  // [N, H], input dtype; undefined when not needed
  torch::Tensor dw;  // [V, H], fp32; undefined when not needed
};

// Loss sum over rows [r0, r0 + c) of x; accumulates dz into grads (already scaled).
double chunk_forward(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& targets,
                     int64_t r0, int64_t c, double inv_norm, Grads& g) {
  auto xc = x.narrow(0, r0, c);
  auto tc = targets.narrow(0, r0, c);
  auto valid = tc.ne(model::kIgnoreIndex);
  // dx rows start at zero, so a chunk with nothing to learn needs no work at all.
  if (!valid.any().item<bool>()) return 0.0;
  auto safe_t = tc.masked_fill(valid.logical_not(), 0).unsqueeze(1);  // [c, 1]

  bool bf16 = x.scalar_type() == torch::kBFloat16;
  auto z = torch::mm(xc, w.t());  // [c, V]
  if (bf16) z = z.to(torch::kFloat32);
  auto z_t = z.gather(1, safe_t);
  auto m = std::get<0>(z.max(1, /*keepdim=*/true));
  z.sub_(m).exp_();  // z now holds e
  auto s = z.sum(1, /*keepdim=*/true);
  auto terms = (m + s.log() - z_t).masked_fill(valid.logical_not().unsqueeze(1), 0.0);
  double loss = terms.sum(torch::kFloat64).item<double>();
  if (!g.dx.defined() && !g.dw.defined()) return loss;

  auto scale = valid.to(torch::kFloat32).mul_(inv_norm).unsqueeze(1);  // [c, 1]
  z.mul_(scale / s).scatter_add_(1, safe_t, -scale);                   // z now holds dz
  if (bf16) {
    auto dz = z.to(torch::kBFloat16);
    if (g.dx.defined()) {
      auto dxc = g.dx.narrow(0, r0, c);
      torch::mm_out(dxc, dz, w);
    }
    // The bf16-rounded dz, in fp32, so dW sums in fp32 across chunks.
    if (g.dw.defined()) g.dw.addmm_(z.copy_(dz).t(), xc.to(torch::kFloat32));
  } else {
    if (g.dx.defined()) {
      auto dxc = g.dx.narrow(0, r0, c);
      torch::mm_out(dxc, z, w);
    }
    if (g.dw.defined()) g.dw.addmm_(z.t(), xc);
  }
  return loss;
}

class LinearCrossEntropyFunction : public torch::autograd::Function<LinearCrossEntropyFunction> {
 public:
  // x [N, H] contiguous, w [V, H] contiguous, targets int64 [N] (already shifted).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& w, const torch::Tensor& targets,
                               double inv_norm, bool need_dx, bool need_dw, int64_t chunk_rows) {
    Grads g;
    if (need_dx) g.dx = torch::zeros_like(x);
    if (need_dw) g.dw = torch::zeros(w.sizes(), w.options().dtype(torch::kFloat32));
    double sum = 0.0;
    for (int64_t r0 = 0; r0 < x.size(0); r0 += chunk_rows)
      sum += chunk_forward(x, w, targets, r0, std::min(chunk_rows, x.size(0) - r0), inv_norm, g);
    ctx->save_for_backward({g.dx, g.dw});
    ctx->saved_data["weight_dtype"] = static_cast<int64_t>(w.scalar_type());
    // The reference divides an fp32 sum by the normaliser in fp32; so does this.
    return torch::scalar_tensor(static_cast<float>(sum), x.options().dtype(torch::kFloat32))
        .mul_(inv_norm);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["weight_dtype"].toInt());
    const auto& gout = grads[0];
    // The usual incoming gradient is exactly 1 (loss.backward()): hand the saved tensors over
    // as they are, rather than a second [V, H] copy. They are never modified, so a second
    // backward (retain_graph) still sees them intact.
    bool unit = gout.item<double>() == 1.0;
    torch::Tensor dx, dw;
    if (saved[0].defined()) dx = unit ? saved[0] : saved[0] * gout.to(saved[0].scalar_type());
    if (saved[1].defined()) dw = (unit ? saved[1] : saved[1] * gout).to(dtype);
    return {dx, dw, {}, {}, {}, {}, {}};
  }
};

bool kernel_handles(const torch::Tensor& hidden, const torch::Tensor& weight,
                    const torch::Tensor& labels) {
  auto dt = hidden.scalar_type();
  return hidden.device().is_cpu() && weight.device().is_cpu() && labels.device().is_cpu() &&
         (dt == torch::kFloat32 || dt == torch::kBFloat16) && weight.scalar_type() == dt &&
         hidden.dim() == 3 && weight.dim() == 2 && hidden.size(2) == weight.size(1) &&
         labels.dim() == 2 && labels.size(0) == hidden.size(0) && labels.size(1) == hidden.size(1);
}

torch::Tensor cpu_fused_linear_cross_entropy_forward(const model::LMHeadLossImpl& layer,
                                                     const torch::Tensor& hidden,
                                                     const torch::Tensor& weight,
                                                     const torch::Tensor& labels,
                                                     double normalizer) {
  if (!kernel_handles(hidden, weight, labels)) {
    static std::once_flag once;
    std::call_once(once, [&] {
      log::debug("cpu_fused_linear_cross_entropy: hidden ", hidden.scalar_type(), " ",
                 hidden.sizes(), " on ", hidden.device(), " with weight ", weight.scalar_type(),
                 " ", weight.sizes(), " is not handled; using the reference forward");
    });
    return layer.reference_forward(hidden, weight, labels, normalizer);
  }
  return cpu_linear_cross_entropy(hidden, weight, labels, normalizer);
}

}  // namespace

int64_t linear_cross_entropy_chunk_rows(int64_t vocab) {
  return std::clamp<int64_t>((int64_t{1} << 25) / std::max<int64_t>(vocab, 1), 16, 1024);
}

torch::Tensor cpu_linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                       const torch::Tensor& labels, double normalizer,
                                       int64_t chunk_rows) {
  TORCH_CHECK(hidden.dim() == 3 && weight.dim() == 2 && hidden.size(2) == weight.size(1),
              "cpu_linear_cross_entropy: expected hidden [B, S, H] and weight [V, H] with the same "
              "H, but got hidden ",
              hidden.sizes(), " and weight ", weight.sizes());
  TORCH_CHECK(
      labels.dim() == 2 && labels.size(0) == hidden.size(0) && labels.size(1) == hidden.size(1),
      "cpu_linear_cross_entropy: expected labels [B, S] = ", hidden.sizes().slice(0, 2),
      ", but got ", labels.sizes());
  int64_t b = hidden.size(0), h = hidden.size(2);
  auto labels64 = labels.to(hidden.device(), torch::kInt64);
  // Position s predicts labels[s + 1]; the last position of each row predicts nothing.
  auto targets =
      torch::cat(
          {labels64.slice(1, 1), torch::full({b, 1}, model::kIgnoreIndex, labels64.options())}, 1)
          .reshape({-1});
  if (normalizer <= 0) normalizer = static_cast<double>(model::count_label_tokens(labels64));
  double inv_norm = 1.0 / std::max(normalizer, 1.0);
  if (chunk_rows <= 0) chunk_rows = linear_cross_entropy_chunk_rows(weight.size(0));
  bool grad = torch::GradMode::is_enabled();
  auto loss = LinearCrossEntropyFunction::apply(
      hidden.contiguous().view({-1, h}), weight.contiguous(), targets, inv_norm,
      grad && hidden.requires_grad(), grad && weight.requires_grad(), chunk_rows);
  return loss;
}

}  // namespace fusebox::ops

FUSEBOX_REGISTER_KERNEL(fusebox::model::LMHeadLossLayer,
                        fusebox::ops::cpu_fused_linear_cross_entropy_forward,
                        fusebox::kernels::KernelInfo("cpu_fused_linear_cross_entropy")
                            .device(fusebox::kernels::DeviceType::kCPU)
                            .backward(true)
                            .default_enabled(true)
                            .priority(10)
                            .description("LM head + cross-entropy in token chunks; logits never "
                                         "materialised, gradients computed in the forward"));
