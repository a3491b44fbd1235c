// RoPE of q [2, 16, 1024, 128] and k [2, 8, 1024, 128] (the shape), both transposed
// views of [B, S, H, D] projections as attention passes them, positions 0..S-1 per row.
#include <torch/torch.h>

#include "bench/bench_case.h"
#include "kernels/api.h"
#include "model/rope.h"
#include "support/kernel_devices.h"

namespace fusebox::bench {
namespace {

constexpr int64_t kBatch = 2, kSeq = 1024, kQHeads = 16, kKvHeads = 8, kHeadDim = 128;

Runner make_runner(torch::ScalarType dtype, bool use_kernel) {
  model::RotaryEmbedding rope(kHeadDim, 1000000.0);
  if (use_kernel) kernels::apply_kernel("cpu_fused_rope", *rope, test::cpu_options());
  auto q_base = torch::randn({kBatch, kSeq, kQHeads, kHeadDim}).to(dtype);
  auto k_base = torch::randn({kBatch, kSeq, kKvHeads, kHeadDim}).to(dtype);
  auto pos = torch::arange(kSeq, torch::kInt64).unsqueeze(0).repeat({kBatch, 1});
  auto dq = torch::randn({kBatch, kQHeads, kSeq, kHeadDim}).to(dtype);
  auto dk = torch::randn({kBatch, kKvHeads, kSeq, kHeadDim}).to(dtype);
  Runner r;
  r.forward = [=]() mutable {
    torch::NoGradGuard no_grad;
    rope(q_base.transpose(1, 2), k_base.transpose(1, 2), pos);
  };
  r.train_forward = [=]() mutable -> std::function<void()> {
    auto ql = q_base.detach().requires_grad_(true), kl = k_base.detach().requires_grad_(true);
    auto out = rope(ql.transpose(1, 2), kl.transpose(1, 2), pos);
    return [=] { torch::autograd::backward({std::get<0>(out), std::get<1>(out)}, {dq, dk}); };
  };
  return r;
}

std::vector<BenchCase> rope_cases(const BenchConfig& config) {
  std::vector<BenchCase> cases;
  for (auto dtype : config.dtypes) {
    BenchCase c;
    c.name = "rope";
    c.layer = "RoPE";
    c.kernel_id = "cpu_fused_rope";
    c.shape = "q2x16x1024x128+k2x8";
    c.dtype = dtype;
    double qk = bytes_of(dtype, kBatch * (kQHeads + kKvHeads) * kSeq * kHeadDim);
    double pos = 8.0 * kBatch * kSeq;
    c.forward_bytes = qk + pos + qk;                               // q, k, positions -> q', k'
    c.forward_backward_bytes = c.forward_bytes + (qk + pos) + qk;  // dq', dk', positions -> dq, dk
    c.make = [=](bool use_kernel) { return make_runner(dtype, use_kernel); };
    cases.push_back(c);
  }
  return cases;
}

}  // namespace
}  // namespace fusebox::bench

FUSEBOX_BENCH_CASES(rope, fusebox::bench::rope_cases);
