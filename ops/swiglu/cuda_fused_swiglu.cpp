// cuda_fused_swiglu, torch side: the Qwen3 MLP, down_proj(silu(gate_proj x) * up_proj x), with
// the SwiGLU activation between the GEMMs done by the kernels of cuda_fused_swiglu.cu, and
// the kernel's registration for layer "MLP" on CUDA.
//
// The three GEMMs stay torch::linear (cuBLAS; autograd differentiates them): they are most of
// the MLP's time and cuBLAS is as fast as they get. What the kernel removes is the eager
// activation's extra passes and temporaries: silu(g) as a tensor, then the product, and in the
// backward silu_backward plus two products. Saved for backward: g and u only (the GEMM
// outputs); the sigmoid is recomputed. Launches go to torch's current stream.
// Inputs the kernels do not take (CPU tensors, dtypes other than fp32/bf16/fp16, x and the
// weights of different dtypes) run the reference forward instead, logged once at debug level.
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include <mutex>
#include <string>

#include "kernels/register.h"
#include "model/mlp.h"
#include "ops/common/cuda_launch.h"
#include "ops/swiglu/cuda_fused_swiglu.h"
#include "ops/swiglu/cuda_swiglu_activation.h"
#include "util/log.h"

namespace fusebox::ops {
namespace {

class CudaSwiGLUFunction : public torch::autograd::Function<CudaSwiGLUFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& gate,
                               const torch::Tensor& up) {
    const c10::cuda::CUDAGuard guard(gate.device());
    auto g = gate.contiguous();
    auto u = up.contiguous();
    auto h = torch::empty(g.sizes(), g.options());
    cuda::swiglu_forward(g.data_ptr(), u.data_ptr(), h.data_ptr(), g.numel(),
                         *launch_dtype(g.scalar_type()), launch_stream());
    ctx->save_for_backward({g, u});
    return h;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &g = saved[0], &u = saved[1];
    const c10::cuda::CUDAGuard guard(g.device());
    auto dh = grads[0].contiguous();
    auto dg = torch::empty(g.sizes(), g.options());
    auto du = torch::empty(u.sizes(), u.options());
    cuda::swiglu_backward(g.data_ptr(), u.data_ptr(), dh.data_ptr(), dg.data_ptr(), du.data_ptr(),
                          g.numel(), *launch_dtype(g.scalar_type()), launch_stream());
    return {dg, du};
  }
};

// Why the kernels cannot take (gate, up), or "" when they can.
std::string unhandled_reason(const torch::Tensor& gate, const torch::Tensor& up) {
  if (!gate.is_cuda() || !up.is_cuda()) return "a tensor is not on a CUDA device";
  if (!launch_dtype(gate.scalar_type())) return "the dtype is not fp32/bf16/fp16";
  if (up.scalar_type() != gate.scalar_type()) return "gate and up dtypes differ";
  return "";
}

void log_fallback_once(const std::string& why, const torch::Tensor& x) {
  static std::once_flag once;
  std::call_once(once, [&] {
    log::debug("cuda_fused_swiglu: ", why, " (input ", x.scalar_type(), " on ", x.device(),
               "); using the reference");
  });
}

torch::Tensor cuda_fused_swiglu_forward(const model::Qwen3MLPImpl& layer, const torch::Tensor& x) {
  const auto& wg = layer.gate_proj->weight;
  const auto& wu = layer.up_proj->weight;
  const auto& wd = layer.down_proj->weight;
  std::string why;
  if (!x.is_cuda() || !wg.is_cuda() || !wu.is_cuda() || !wd.is_cuda()) {
    why = "a tensor is not on a CUDA device";
  } else if (!launch_dtype(x.scalar_type())) {
    why = "the dtype is not fp32/bf16/fp16";
  } else if (wg.scalar_type() != x.scalar_type() || wu.scalar_type() != x.scalar_type() ||
             wd.scalar_type() != x.scalar_type()) {
    why = "input and weight dtypes differ";  // the reference's type promotion applies
  }
  if (!why.empty()) {
    log_fallback_once(why, x);
    return layer.reference_forward(x);
  }
  auto gate = torch::linear(x, wg);
  auto up = torch::linear(x, wu);
  return torch::linear(CudaSwiGLUFunction::apply(gate, up), wd);
}

}  // namespace

torch::Tensor cuda_swiglu_activation(const torch::Tensor& gate, const torch::Tensor& up) {
  TORCH_CHECK(gate.sizes() == up.sizes(), "cuda_swiglu_activation: expected gate and up of one ",
              "shape, but got gate ", gate.sizes(), " and up ", up.sizes());
  std::string why = unhandled_reason(gate, up);
  if (!why.empty()) {
    log_fallback_once(why, gate);
    return torch::silu(gate) * up;
  }
  TORCH_CHECK(gate.device() == up.device(), "cuda_swiglu_activation: expected gate and up on one ",
              "device, but got gate on ", gate.device(), " and up on ", up.device());
  return CudaSwiGLUFunction::apply(gate, up);
}

}  // namespace fusebox::ops

FUSEBOX_REGISTER_KERNEL(fusebox::model::MLPLayer, fusebox::ops::cuda_fused_swiglu_forward,
                        fusebox::kernels::KernelInfo("cuda_fused_swiglu")
                            .device(fusebox::kernels::DeviceType::kCUDA)
                            .compute_capability(fusebox::ops::cuda::kBuiltMinComputeCapability,
                                                fusebox::ops::cuda::kBuiltMaxComputeCapability)
                            .backward(true)
                            .default_enabled(true)
                            .priority(10)
                            .description("SwiGLU MLP on CUDA: cuBLAS GEMMs, silu(g) * u fused "
                                         "into one kernel per direction, saves only g and u"));
