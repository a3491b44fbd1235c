// The SwiGLU MLP, tokens 4096, hidden 1024, intermediate 3072 (the shape), two ways:
//   swiglu_act: the activation alone on [4096 x 3072] -- silu(g) * u vs the fused pass;
//               memory-bound, measured against the memory floor.
//   mlp:        the whole Qwen3 MLP (three GEMMs around it) -- the reference forward vs
//               cpu_fused_swiglu installed; GEMM-bound, reported in GFLOP/s. --quick uses
//               512 tokens for it.
#include <torch/torch.h>

#include <cmath>

#include "bench/bench_case.h"
#include "kernels/api.h"
#include "model/mlp.h"
#include "ops/swiglu/cpu_fused_swiglu.h"
#include "support/kernel_devices.h"

namespace fusebox::bench {
namespace {

Runner activation_runner(int64_t tokens, int64_t inter, torch::ScalarType dtype, bool use_kernel) {
  auto g = torch::randn({tokens, inter}).to(dtype);
  auto u = torch::randn({tokens, inter}).to(dtype);
  auto dh = torch::randn({tokens, inter}).to(dtype);
  auto act = [use_kernel](const torch::Tensor& gate, const torch::Tensor& up) {
    // The reference is the model's own expression (model/mlp.cpp).
    return use_kernel ? ops::cpu_swiglu_activation(gate, up) : torch::silu(gate) * up;
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

Runner mlp_runner(int64_t tokens, int64_t hidden, int64_t inter, torch::ScalarType dtype,
                  bool use_kernel) {
  model::Qwen3MLP mlp(hidden, inter);
  mlp->to(dtype);
  if (use_kernel) kernels::apply_kernel("cpu_fused_swiglu", *mlp, test::cpu_options());
  auto x = torch::randn({tokens, hidden}).to(dtype);
  auto dy = torch::randn({tokens, hidden}).to(dtype);
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

std::vector<BenchCase> swiglu_cases(const BenchConfig& config) {
  const int64_t hidden = 1024, inter = 3072;
  std::vector<BenchCase> cases;
  for (auto dtype : config.dtypes) {
    const int64_t tokens = 4096;
    BenchCase act;
    act.name = "swiglu_act";
    act.layer = "MLP";
    act.kernel_id = "cpu_fused_swiglu";
    act.shape = "4096x3072";
    act.dtype = dtype;
    double t = bytes_of(dtype, tokens * inter);
    act.forward_bytes = 3 * t;                               // g, u -> h
    act.forward_backward_bytes = act.forward_bytes + 5 * t;  // dh, g, u -> dg, du
    act.make = [=](bool k) { return activation_runner(tokens, inter, dtype, k); };
    cases.push_back(act);
  }
  for (auto dtype : config.dtypes) {
    const int64_t tokens = config.quick ? 512 : 4096;
    BenchCase mlp;
    mlp.name = "mlp";
    mlp.layer = "MLP";
    mlp.kernel_id = "cpu_fused_swiglu";
    mlp.shape = std::to_string(tokens) + "x1024x3072";
    mlp.dtype = dtype;
    mlp.heavy = true;
    double gemm = 2.0 * tokens * hidden * inter;  // one of the three projections
    mlp.forward_flops = 3 * gemm;
    mlp.forward_backward_flops = 9 * gemm;  // backward: dX and dW for each projection
    double x = bytes_of(dtype, tokens * hidden), w = bytes_of(dtype, hidden * inter);
    mlp.forward_bytes = x + 3 * w + x;
    mlp.forward_backward_bytes = mlp.forward_bytes + (x + x + 3 * w) + (x + 3 * w);
    mlp.make = [=](bool k) { return mlp_runner(tokens, hidden, inter, dtype, k); };
    cases.push_back(mlp);
  }
  return cases;
}

}  // namespace
}  // namespace fusebox::bench

FUSEBOX_BENCH_CASES(swiglu, fusebox::bench::swiglu_cases);
