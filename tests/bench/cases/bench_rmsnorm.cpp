// RMSNorm over [4096 x 1024] (the shape): model::RMSNorm's reference forward vs
// cpu_fused_rmsnorm installed into the same kind of layer.
#include <torch/torch.h>

#include "bench/bench_case.h"
#include "kernels/api.h"
#include "model/rmsnorm.h"
#include "support/kernel_devices.h"

namespace fusebox::bench {
namespace {

Runner make_runner(int64_t rows, int64_t hidden, torch::ScalarType dtype, bool use_kernel) {
  model::RMSNorm norm(hidden, 1e-6);
  norm->to(dtype);
  if (use_kernel) kernels::apply_kernel("cpu_fused_rmsnorm", *norm, test::cpu_options());
  auto x = torch::randn({rows, hidden}).to(dtype);
  auto dy = torch::randn({rows, hidden}).to(dtype);
  Runner r;
  r.forward = [=]() mutable {
    torch::NoGradGuard no_grad;
    norm(x);
  };
  r.train_forward = [=]() mutable -> std::function<void()> {
    auto leaf = x.detach().requires_grad_(true);
    auto y = norm(leaf);
    return [=]() mutable {
      y.backward(dy);
      norm->weight.mutable_grad() = torch::Tensor();
    };
  };
  return r;
}

std::vector<BenchCase> rmsnorm_cases(const BenchConfig& config) {
  const int64_t rows = 4096, hidden = 1024;
  std::vector<BenchCase> cases;
  for (auto dtype : config.dtypes) {
    BenchCase c;
    c.name = "rmsnorm";
    c.layer = "RMSNorm";
    c.kernel_id = "cpu_fused_rmsnorm";
    c.shape = "4096x1024";
    c.dtype = dtype;
    double x = bytes_of(dtype, rows * hidden), w = bytes_of(dtype, hidden);
    c.forward_bytes = x + w + x;                                         // x, w -> y
    c.forward_backward_bytes = c.forward_bytes + (x + x + w) + (x + w);  // dy, x, w -> dx, dw
    c.make = [=](bool use_kernel) { return make_runner(rows, hidden, dtype, use_kernel); };
    cases.push_back(c);
  }
  return cases;
}

}  // namespace
}  // namespace fusebox::bench

FUSEBOX_BENCH_CASES(rmsnorm, fusebox::bench::rmsnorm_cases);
