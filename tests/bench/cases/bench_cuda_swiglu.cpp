// The SwiGLU MLP on the GPU, 16384 tokens, hidden 1024, intermediate 3072 (the CUDA
// shape), two ways:
//   cuda_swiglu_act: the activation alone on [16384 x 3072] -- silu(g) * u (the model's
//                    expression, eager ATen) vs ops::cuda_swiglu_activation; memory-bound.
//   cuda_mlp:        the whole Qwen3 MLP (three cuBLAS GEMMs around it) -- the reference
//                    forward vs cuda_fused_swiglu installed; GEMM-bound, in GFLOP/s.
#include <torch/torch.h>

#include "bench/bench_case.h"
#include "kernels/api.h"
#include "model/mlp.h"
#include "ops/swiglu/cuda_swiglu_activation.h"
#include "support/kernel_devices.h"

namespace fusebox::bench {
namespace {

constexpr int64_t kTokens = 16384, kHidden = 1024, kInter = 3072;

torch::TensorOptions on_gpu(torch::ScalarType dtype) {
  return torch::TensorOptions().device(torch::kCUDA, 0).dtype(dtype);
}

Runner activation_runner(torch::ScalarType dtype, bool use_kernel) {
  auto g = torch::randn({kTokens, kInter}, on_gpu(dtype));
  auto u = torch::randn({kTokens, kInter}, on_gpu(dtype));
  auto dh = torch::randn({kTokens, kInter}, on_gpu(dtype));
  auto act = [use_kernel](const torch::Tensor& gate, const torch::Tensor& up) {
    return use_kernel ? ops::cuda_swiglu_activation(gate, up) : torch::silu(gate) * up;
  };
  Runner r;
  r.forward = [=] {
    torch::NoGradGuard no_grad;
    act(g, u);
  };
  r.train_forward = [=]() -> std::function<void()> {
    auto gl = g.detach().requires_grad_(true), ul = u.detach().requires_grad_(true);
    auto h = act(gl, ul);
    return [=] { h.backward(dh); };
  };
  return r;
}

Runner mlp_runner(torch::ScalarType dtype, bool use_kernel) {
  model::Qwen3MLP mlp(kHidden, kInter);
  mlp->to(torch::Device(torch::kCUDA, 0), dtype);
  if (use_kernel) kernels::apply_kernel("cuda_fused_swiglu", *mlp, test::cuda_options());
  auto x = torch::randn({kTokens, kHidden}, on_gpu(dtype));
  auto dy = torch::randn({kTokens, kHidden}, on_gpu(dtype));
  Runner r;
  r.forward = [=]() mutable {
    torch::NoGradGuard no_grad;
    mlp(x);
  };
  r.train_forward = [=]() mutable -> std::function<void()> {
    auto leaf = x.detach().requires_grad_(true);
    auto y = mlp(leaf);
    return [=]() mutable {
      y.backward(dy);
      for (auto& p : mlp->parameters())
        p.mutable_grad() = torch::Tensor();
    };
  };
  return r;
}

std::vector<BenchCase> cuda_swiglu_cases(const BenchConfig& config) {
  std::vector<BenchCase> cases;
  for (auto dtype : config.dtypes) {
    BenchCase act;
    act.name = "cuda_swiglu_act";
    act.layer = "MLP";
    act.kernel_id = "cuda_fused_swiglu";
    act.shape = "16384x3072";
    act.dtype = dtype;
    act.device = c10::DeviceType::CUDA;
    double t = bytes_of(dtype, kTokens * kInter);
    act.forward_bytes = 3 * t;                               // g, u -> h
    act.forward_backward_bytes = act.forward_bytes + 5 * t;  // dh, g, u -> dg, du
    act.make = [=](bool k) { return activation_runner(dtype, k); };
    cases.push_back(act);
  }
  for (auto dtype : config.dtypes) {
    BenchCase mlp;
    mlp.name = "cuda_mlp";
    mlp.layer = "MLP";
    mlp.kernel_id = "cuda_fused_swiglu";
    mlp.shape = "16384x1024x3072";
    mlp.dtype = dtype;
    mlp.device = c10::DeviceType::CUDA;
    double gemm = 2.0 * kTokens * kHidden * kInter;  // one of the three projections
    mlp.forward_flops = 3 * gemm;
    mlp.forward_backward_flops = 9 * gemm;  // backward: dX and dW for each projection
    double x = bytes_of(dtype, kTokens * kHidden), w = bytes_of(dtype, kHidden * kInter);
    mlp.forward_bytes = x + 3 * w + x;
    mlp.forward_backward_bytes = mlp.forward_bytes + (x + x + 3 * w) + (x + 3 * w);
    mlp.make = [=](bool k) { return mlp_runner(dtype, k); };
    cases.push_back(mlp);
  }
  return cases;
}

}  // namespace
}  // namespace fusebox::bench

FUSEBOX_BENCH_CASES(cuda_swiglu, fusebox::bench::cuda_swiglu_cases);
