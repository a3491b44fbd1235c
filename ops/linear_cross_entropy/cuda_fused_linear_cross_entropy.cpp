// cuda_fused_linear_cross_entropy: the LM head projection and the next-token cross-entropy on
// CUDA in chunks of tokens, so the [tokens x vocab] logits never exist in full. Torch side:
// checks, allocation, the current stream, the autograd function, registration.
//
// Row i of hidden (flattened [N, H], N = B * S) predicts t_i = labels[b, s + 1]; the last
// position of each sequence and kIgnoreIndex targets contribute nothing. Per chunk of rows:
//   z = x_c W^T                 cuBLAS in the input dtype, fp32 accumulation, rounded to the
//                               dtype: the reference's linear() before its .to(float32)
//   loss_i, dz = (softmax(z) - onehot) / denom   one fused kernel per row, dz written over z
//                               (cuda_fused_linear_cross_entropy.cu)
//   dx_c = dz W                 straight into the rows of dx (one GEMM over the whole vocab,
//                               as the reference's)
//   dW += dz^T x_c              one chunk: one GEMM, as the reference's. Several (bf16/fp16):
//                               each chunk's product comes out of cuBLAS in the weight dtype
//                               (torch has no low-precision GEMM that adds into an fp32
//                               output), the running sum is kept in fp32 and rounded once at
//                               the end -- a running sum in bf16 would round the growing total
//                               once per chunk. fp32: addmm_ into dW.
// The gradients are computed in the forward (Liger-Kernel's approach) rather than recomputed
// in the backward: both need the same chunk loop, and recomputing would run the largest GEMM
// (z = x W^T) a second time, while keeping dx and dW costs what the gradients cost anyway.
// Saved for backward: dx ([N, H], input dtype) and dW ([V, H], weight dtype), both already
// divided by the normaliser; the backward multiplies them by the incoming gradient (a
// 0-dim tensor: no host read). Only the gradients autograd will ask for are computed.
// The normaliser (the label-token count when not given) stays on the GPU: no host sync.
// Peak added memory, bf16, several chunks: fp32 dW accumulator + one [V, H] bf16 buffer (the
// per-chunk product, finally dW itself) + one chunk of logits (<= 256 MiB) + dx. For 8192
// tokens, H 1024, V 151936: ~0.6 + 0.3 + 0.25 GiB.
// Dtypes: fp32, bf16, fp16 (hidden and weight of one dtype, on one CUDA device); anything else
// runs the reference forward. Layout: any; hidden and weight are made contiguous at entry.
#include "ops/linear_cross_entropy/cuda_linear_cross_entropy.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "kernels/register.h"
#include "model/lm_head_loss.h"
#include "model/loss.h"
#include "ops/common/cuda_launch.h"
#include "ops/linear_cross_entropy/cuda_fused_linear_cross_entropy.h"
#include "util/log.h"

namespace fusebox::ops {
namespace {

constexpr int64_t kChunkBytes = int64_t{256} << 20;

cuda::DType storage_dtype(torch::ScalarType t) {
  auto dtype = launch_dtype(t);
  TORCH_CHECK(dtype, "cuda_fused_linear_cross_entropy: expected fp32, bf16 or fp16, but got ", t);
  return *dtype;
}

// dW over chunks: the product goes straight into `dw_` when there is one chunk; otherwise each
// chunk's product (in the weight dtype, in `dw_`) is summed into `acc_` in fp32, or added to
// `dw_` in place for fp32. `dw_` ends up holding the sum, so it is the only [V, H] output.
class WeightGradSum {
 public:
  WeightGradSum(const torch::Tensor& w, bool single_chunk) : single_(single_chunk) {
    const bool fp32 = w.scalar_type() == torch::kFloat32;
    dw_ = (single_ || !fp32) ? torch::empty_like(w) : torch::zeros_like(w);
    if (!single_ && !fp32) acc_ = torch::zeros(w.sizes(), w.options().dtype(torch::kFloat32));
  }
  void add(const torch::Tensor& dz, const torch::Tensor& x_chunk) {
    if (single_) {
      torch::mm_out(dw_, dz.t(), x_chunk);
    } else if (!acc_.defined()) {
      dw_.addmm_(dz.t(), x_chunk);  // fp32 throughout
    } else {
      torch::mm_out(dw_, dz.t(), x_chunk);  // this chunk's product in the weight dtype ...
      acc_.add_(dw_);                       // ... summed in fp32
    }
  }
  torch::Tensor finish() {
    if (acc_.defined()) {
      dw_.copy_(acc_);
      acc_ = torch::Tensor();
    }
    return dw_;
  }

 private:
  bool single_;
  torch::Tensor dw_, acc_;
};

class CudaLinearCrossEntropyFunction
    : public torch::autograd::Function<CudaLinearCrossEntropyFunction> {
 public:
  // x [N, H] and w [V, H] contiguous on one device; targets int64 [N] there; denom an fp32
  // 0-dim tensor there (>= 1).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& w, const torch::Tensor& targets,
                               const torch::Tensor& denom, bool need_dx, bool need_dw,
                               int64_t chunk_rows) {
    const c10::cuda::CUDAGuard device_guard(x.device());
    cudaStream_t stream = launch_stream();
    const int64_t n = x.size(0), vocab = w.size(0);
    const bool grad = need_dx || need_dw;
    auto row_loss = torch::empty({n}, x.options().dtype(torch::kFloat32));
    torch::Tensor dx = need_dx ? torch::empty_like(x) : torch::Tensor();
    std::unique_ptr<WeightGradSum> dw;
    if (need_dw) dw = std::make_unique<WeightGradSum>(w, chunk_rows >= n);
    auto logits = torch::empty({std::min(chunk_rows, n), vocab}, x.options());
    for (int64_t r0 = 0; r0 < n; r0 += chunk_rows) {
      const int64_t c = std::min(chunk_rows, n - r0);
      auto z = logits.narrow(0, 0, c);
      auto x_c = x.narrow(0, r0, c);
      torch::mm_out(z, x_c, w.t());
      cuda::cross_entropy_rows(z.data_ptr(), c, vocab, targets.data_ptr<int64_t>() + r0,
                               model::kIgnoreIndex, denom.data_ptr<float>(), grad,
                               row_loss.data_ptr<float>() + r0, storage_dtype(x.scalar_type()),
                               stream);
      if (need_dx) {
        auto dx_c = dx.narrow(0, r0, c);
        torch::mm_out(dx_c, z, w);
      }
      if (need_dw) dw->add(z, x_c);
    }
    logits = torch::Tensor();
    torch::Tensor dw_total;
    if (need_dw) dw_total = n > 0 ? dw->finish() : torch::zeros_like(w);
    ctx->save_for_backward({dx, dw_total});
    // The reference divides an fp32 sum by the normaliser in fp32; so does this.
    return row_loss.sum().div(denom);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& gout = grads[0];  // fp32 0-dim; the products keep the saved dtypes
    torch::Tensor dx, dw;
    if (saved[0].defined()) dx = saved[0] * gout;
    if (saved[1].defined()) dw = saved[1] * gout;
    return {dx, dw, {}, {}, {}, {}, {}};
  }
};

bool kernel_handles(const torch::Tensor& hidden, const torch::Tensor& weight,
                    const torch::Tensor& labels) {
  auto dt = hidden.scalar_type();
  return hidden.is_cuda() && weight.device() == hidden.device() &&
         (dt == torch::kFloat32 || dt == torch::kBFloat16 || dt == torch::kHalf) &&
         weight.scalar_type() == dt && hidden.dim() == 3 && weight.dim() == 2 &&
         hidden.size(2) == weight.size(1) && labels.dim() == 2 &&
         labels.size(0) == hidden.size(0) && labels.size(1) == hidden.size(1);
}

torch::Tensor cuda_fused_linear_cross_entropy_forward(const model::LMHeadLossImpl& layer,
                                                      const torch::Tensor& hidden,
                                                      const torch::Tensor& weight,
                                                      const torch::Tensor& labels,
                                                      double normalizer) {
  if (!kernel_handles(hidden, weight, labels)) {
    static std::once_flag once;
    std::call_once(once, [&] {
      log::debug("cuda_fused_linear_cross_entropy: hidden ", hidden.scalar_type(), " ",
                 hidden.sizes(), " on ", hidden.device(), " with weight ", weight.scalar_type(),
                 " ", weight.sizes(), " on ", weight.device(),
                 " is not handled; using the reference forward");
    });
    return layer.reference_forward(hidden, weight, labels, normalizer);
  }
  return cuda_linear_cross_entropy(hidden, weight, labels, normalizer);
}

}  // namespace

int64_t cuda_linear_cross_entropy_chunk_rows(int64_t rows, int64_t vocab, torch::ScalarType dtype) {
  const int64_t row_bytes = std::max<int64_t>(vocab, 1) * c10::elementSize(dtype);
  const int64_t most = std::max<int64_t>(kChunkBytes / row_bytes, 1);
  const int64_t chunks = std::max<int64_t>((rows + most - 1) / most, 1);
  return std::max<int64_t>((rows + chunks - 1) / chunks, 1);  // balanced: no tiny last chunk
}

torch::Tensor cuda_linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                        const torch::Tensor& labels, double normalizer,
                                        int64_t chunk_rows) {
  TORCH_CHECK(hidden.dim() == 3 && weight.dim() == 2 && hidden.size(2) == weight.size(1),
              "cuda_linear_cross_entropy: expected hidden [B, S, H] and weight [V, H] with the "
              "same H, but got hidden ",
              hidden.sizes(), " and weight ", weight.sizes());
  TORCH_CHECK(
      labels.dim() == 2 && labels.size(0) == hidden.size(0) && labels.size(1) == hidden.size(1),
      "cuda_linear_cross_entropy: expected labels [B, S] = ", hidden.sizes().slice(0, 2),
      ", but got ", labels.sizes());
  TORCH_CHECK(hidden.is_cuda() && weight.device() == hidden.device(),
              "cuda_linear_cross_entropy: expected hidden and weight on one CUDA device, but got ",
              hidden.device(), " and ", weight.device());
  TORCH_CHECK(weight.scalar_type() == hidden.scalar_type(),
              "cuda_linear_cross_entropy: expected hidden and weight of one dtype, but got ",
              hidden.scalar_type(), " and ", weight.scalar_type());
  storage_dtype(hidden.scalar_type());  // throws naming the dtype if it is not handled
  const int64_t b = hidden.size(0), h = hidden.size(2);
  auto labels64 = labels.to(hidden.device(), torch::kInt64);
  // Position s predicts labels[s + 1]; the last position of each row predicts nothing.
  auto targets =
      torch::cat(
          {labels64.slice(1, 1), torch::full({b, 1}, model::kIgnoreIndex, labels64.options())}, 1)
          .reshape({-1});
  const auto f32 = hidden.options().dtype(torch::kFloat32);
  // max(normaliser, 1) as the reference divides by it, kept on the device.
  torch::Tensor denom =
      normalizer > 0 ? torch::scalar_tensor(static_cast<float>(std::max(normalizer, 1.0)), f32)
                     : targets.ne(model::kIgnoreIndex).sum().to(torch::kFloat32).clamp_min(1.0);
  auto x = hidden.contiguous().view({-1, h});
  if (chunk_rows <= 0) {
    chunk_rows =
        cuda_linear_cross_entropy_chunk_rows(x.size(0), weight.size(0), hidden.scalar_type());
  }
  const bool grad = torch::GradMode::is_enabled();
  return CudaLinearCrossEntropyFunction::apply(x, weight.contiguous(), targets, denom,
                                               grad && hidden.requires_grad(),
                                               grad && weight.requires_grad(), chunk_rows);
}

}  // namespace fusebox::ops

FUSEBOX_REGISTER_KERNEL(
    fusebox::model::LMHeadLossLayer, fusebox::ops::cuda_fused_linear_cross_entropy_forward,
    fusebox::kernels::KernelInfo("cuda_fused_linear_cross_entropy")
        .device(fusebox::kernels::DeviceType::kCUDA)
        .compute_capability(fusebox::ops::cuda::kBuiltMinComputeCapability,
                            fusebox::ops::cuda::kBuiltMaxComputeCapability)
        .backward(true)
        .default_enabled(true)
        .priority(10)
        .description("LM head + cross-entropy in token chunks on CUDA: logits never "
                     "materialised, one fused softmax/loss/gradient pass per chunk, gradients "
                     "computed in the forward"));
