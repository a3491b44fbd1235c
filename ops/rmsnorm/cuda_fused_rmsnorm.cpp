// cuda_fused_rmsnorm, torch side: the autograd Function around the kernels of
// cuda_fused_rmsnorm.cu and the kernel's registration for layer "RMSNorm" on CUDA.
//
// Checks and allocation happen here, once; the launchers only fill buffers. The input is made
// contiguous [rows, H] at entry; saved for backward: that x, the weight and the per-row rstd
// (fp32), never y. Launches go to torch's current stream; nothing waits for the GPU.
// Inputs the kernels do not take (a tensor on the CPU, dtypes other than fp32/bf16/fp16, or
// x and weight of different dtypes, where the reference's type promotion applies) run the
// reference forward instead, logged once at debug level.
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include <mutex>

#include "kernels/register.h"
#include "model/rmsnorm.h"
#include "ops/common/cuda_launch.h"
#include "ops/rmsnorm/cuda_fused_rmsnorm.h"
#include "util/log.h"

namespace fusebox::ops {
namespace {

class CudaRMSNormFunction : public torch::autograd::Function<CudaRMSNormFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input,
                               const torch::Tensor& weight, double eps) {
    const c10::cuda::CUDAGuard guard(input.device());
    const int64_t hidden = weight.size(0);
    auto x = input.contiguous().view({-1, hidden});
    auto w = weight.contiguous();
    auto y = torch::empty_like(x);
    auto rstd = torch::empty({x.size(0)}, x.options().dtype(torch::kFloat32));
    cuda::rmsnorm_forward(x.data_ptr(), w.data_ptr(), y.data_ptr(), rstd.data_ptr<float>(),
                          x.size(0), hidden, static_cast<float>(eps),
                          *launch_dtype(x.scalar_type()), launch_stream());
    ctx->save_for_backward({x, w, rstd});
    return y.view(input.sizes());
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1], &rstd = saved[2];
    const c10::cuda::CUDAGuard guard(x.device());
    const int64_t rows = x.size(0), hidden = x.size(1);
    auto dy = grads[0].contiguous().view({rows, hidden});
    auto dx = torch::empty_like(x);
    auto dw = torch::empty({hidden}, w.options());
    // Per-block fp32 partial sums of dw; the caching allocator makes this a pointer bump.
    auto workspace = torch::empty({cuda::rmsnorm_backward_workspace_rows(), hidden},
                                  x.options().dtype(torch::kFloat32));
    cuda::rmsnorm_backward(x.data_ptr(), w.data_ptr(), dy.data_ptr(), rstd.data_ptr<float>(),
                           dx.data_ptr(), dw.data_ptr(), workspace.data_ptr<float>(), rows, hidden,
                           *launch_dtype(x.scalar_type()), launch_stream());
    return {dx.view(grads[0].sizes()), dw, torch::Tensor()};
  }
};

// Why the kernels cannot take (x, weight), or "" when they can.
std::string unhandled_reason(const torch::Tensor& x, const torch::Tensor& w) {
  if (!x.is_cuda() || !w.is_cuda()) return "a tensor is not on a CUDA device";
  if (!launch_dtype(x.scalar_type())) return "the dtype is not fp32/bf16/fp16";
  if (w.scalar_type() != x.scalar_type()) return "input and weight dtypes differ";
  if (w.dim() == 1 && w.size(0) == 0) return "the hidden size is 0";
  return "";
}

torch::Tensor cuda_fused_rmsnorm_forward(const model::RMSNormImpl& layer, const torch::Tensor& x) {
  const torch::Tensor& w = layer.weight;
  std::string why = unhandled_reason(x, w);
  if (!why.empty()) {
    static std::once_flag once;
    std::call_once(once, [&] {
      log::debug("cuda_fused_rmsnorm: ", why, " (input ", x.scalar_type(), " on ", x.device(),
                 ", weight ", w.scalar_type(), " on ", w.device(),
                 "); using the reference forward");
    });
    return layer.reference_forward(x);
  }
  TORCH_CHECK(w.dim() == 1, "cuda_fused_rmsnorm: expected a 1-D weight, got shape ", w.sizes());
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == w.size(0), "cuda_fused_rmsnorm: expected the ",
              "input's last dim to match the weight's size ", w.size(0), ", got ",
              x.dim() >= 1 ? x.size(-1) : 0, " (input ", x.sizes(), ")");
  TORCH_CHECK(x.device() == w.device(), "cuda_fused_rmsnorm: expected the weight on the input's ",
              "device ", x.device(), ", got ", w.device());
  return CudaRMSNormFunction::apply(x, w, layer.eps());
}

}  // namespace
}  // namespace fusebox::ops

FUSEBOX_REGISTER_KERNEL(fusebox::model::RMSNormLayer, fusebox::ops::cuda_fused_rmsnorm_forward,
                        fusebox::kernels::KernelInfo("cuda_fused_rmsnorm")
                            .device(fusebox::kernels::DeviceType::kCUDA)
                            .compute_capability(fusebox::ops::cuda::kBuiltMinComputeCapability,
                                                fusebox::ops::cuda::kBuiltMaxComputeCapability)
                            .backward(true)
                            .default_enabled(true)
                            .priority(10)
                            .description("RMSNorm forward+backward on CUDA, one pass per row, "
                                         "fp32 math, dW through per-block partial sums"));
