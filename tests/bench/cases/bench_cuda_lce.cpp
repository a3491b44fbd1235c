// The LM head + next-token loss on CUDA, the shape: 8192 tokens, hidden 1024, a
// 151936-token vocabulary -- the reference (linear, then causal_lm_loss on the full logits:
// ~26 ms and ~16 GiB peak fwd+bwd in bf16 on an H200) vs cuda_fused_linear_cross_entropy
// (targets: <= 35 ms, <= 1.5 GiB peak). GEMM-bound: reported in GFLOP/s. --quick: 1024 tokens,
// a 32000-token vocabulary. Built only with a CUDA libtorch; the harness times it with CUDA
// events and reads the caching allocator's peak (bench_case.h).
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "bench/bench_case.h"
#include "kernels/api.h"
#include "model/lm_head_loss.h"
#include "support/kernel_devices.h"

namespace fusebox::bench {
namespace {

Runner lce_runner(int64_t tokens, int64_t hidden, int64_t vocab, torch::ScalarType dtype,
                  bool use_kernel) {
  auto opts = torch::TensorOptions().device(torch::kCUDA).dtype(dtype);
  auto x = torch::randn({1, tokens, hidden}, opts);
  auto weight = torch::randn({vocab, hidden}, opts) / std::sqrt(static_cast<double>(hidden));
  auto labels = torch::randint(0, vocab, {1, tokens},
                               torch::TensorOptions().device(torch::kCUDA).dtype(torch::kInt64));
  model::LMHeadLoss layer;
  if (use_kernel)
    kernels::apply_kernel("cuda_fused_linear_cross_entropy", *layer, test::cuda_options());

  Runner r;
  r.forward = [=]() mutable {
    torch::NoGradGuard no_grad;
    layer(x, weight, labels, 0);
  };
  r.train_forward = [=]() mutable -> std::function<void()> {
    auto h = x.detach().requires_grad_(true);
    auto w = weight.detach().requires_grad_(true);
    auto loss = layer(h, w, labels, 0);
    // h, w and their gradients stay alive through loss's graph until the harness drops this.
    return [=]() mutable { loss.backward(); };
  };
  return r;
}

std::vector<BenchCase> cuda_lce_cases(const BenchConfig& config) {
  std::vector<BenchCase> cases;
  const int64_t tokens = config.quick ? 1024 : 8192, hidden = 1024;
  const int64_t vocab = config.quick ? 32000 : 151936;
  for (auto dtype : config.dtypes) {
    BenchCase c;
    c.name = "cuda_lm_head_loss";
    c.layer = "LMHeadLoss";
    c.kernel_id = "cuda_fused_linear_cross_entropy";
    c.shape = std::to_string(tokens) + "x" + std::to_string(hidden) + "x" + std::to_string(vocab);
    c.dtype = dtype;
    c.device = c10::DeviceType::CUDA;
    c.heavy = true;
    const double gemm = 2.0 * tokens * hidden * vocab;  // logits; dX and dW cost the same each
    c.forward_flops = gemm;
    c.forward_backward_flops = 3 * gemm;
    const double w = bytes_of(dtype, static_cast<double>(vocab) * hidden);
    const double h = bytes_of(dtype, static_cast<double>(tokens) * hidden);
    c.forward_bytes = w + h;                             // the logits never reach memory in full
    c.forward_backward_bytes = c.forward_bytes + w + h;  // + dW, dh
    c.make = [=](bool k) { return lce_runner(tokens, hidden, vocab, dtype, k); };
    cases.push_back(c);
  }
  return cases;
}

}  // namespace
}  // namespace fusebox::bench

FUSEBOX_BENCH_CASES(cuda_lce, fusebox::bench::cuda_lce_cases);
