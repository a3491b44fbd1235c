// RMSNorm on the GPU over [16384 x 1024] (the CUDA shape): model::RMSNorm's reference
// forward (eager ATen kernels) vs cuda_fused_rmsnorm installed into the same kind of layer.
#include <torch/torch.h>

#include "bench/bench_case.h"
#include "kernels/api.h"
#include "model/rmsnorm.h"
#include "support/kernel_devices.h"

namespace fusebox::bench {
namespace {

Runner make_runner(int64_t rows, int64_t hidden, torch::ScalarType dtype, bool use_kernel) {
  const torch::Device gpu(torch::kCUDA, 0);
  model::RMSNorm norm(hidden, 1e-6);
  norm->to(gpu, dtype);
  if (use_kernel) kernels::apply_kernel("cuda_fused_rmsnorm", *norm, test::cuda_options());
  auto options = torch::TensorOptions().device(gpu).dtype(dtype);
  auto x = torch::randn({rows, hidden}, options);
  auto dy = torch::randn({rows, hidden}, options);
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

std::vector<BenchCase> cuda_rmsnorm_cases(const BenchConfig& config) {
  const int64_t rows = 16384, hidden = 1024;
  std::vector<BenchCase> cases;
  for (auto dtype : config.dtypes) {
    BenchCase c;
    c.name = "cuda_rmsnorm";
    c.layer = "RMSNorm";
    c.kernel_id = "cuda_fused_rmsnorm";
    c.shape = "16384x1024";
    c.dtype = dtype;
    c.device = c10::DeviceType::CUDA;
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

FUSEBOX_BENCH_CASES(cuda_rmsnorm, fusebox::bench::cuda_rmsnorm_cases);
