// The attention core (layer "Attention") at Qwen3-0.6B's head shape: B = 1, 16 q heads, 8 kv
// heads, head_dim 128, causal, sequence 512, 2048 and (unless --quick) 8192. The eager reference
// (model::AttentionCore without a kernel) materialises [B, Hq, S, S] scores and probabilities, so
// its memory grows with S^2; cpu_fused_attention keeps a few 64 x 256 tiles per thread and its
// memory grows with S. At 8192 only the kernel runs (BenchCase::reference_skipped): the
// reference's scores alone would be 4 GiB in fp32, a training step holds several such tensors at
// once -- more than the 23 GiB machine in docs/BENCHMARKS.md can spare beside other work -- and
// at 16x its 2048 time a pass would take tens of seconds.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "bench/bench_case.h"
#include "kernels/api.h"
#include "model/attention_core.h"
#include "support/kernel_devices.h"

namespace fusebox::bench {
namespace {

constexpr int64_t kHeadsQ = 16, kHeadsKv = 8, kHeadDim = 128;
// Longest sequence the reference is run at (see the header comment).
constexpr int64_t kReferenceMaxSeq = 4096;

Runner make_runner(int64_t seq, torch::ScalarType dtype, bool use_kernel) {
  model::AttentionCore core;
  if (use_kernel) kernels::apply_kernel("cpu_fused_attention", *core, test::cpu_options());
  // q, k, v as the model passes them: transposed views of [B, S, H, D] projections.
  auto q = torch::randn({1, seq, kHeadsQ, kHeadDim}).to(dtype).transpose(1, 2);
  auto k = torch::randn({1, seq, kHeadsKv, kHeadDim}).to(dtype).transpose(1, 2);
  auto v = torch::randn({1, seq, kHeadsKv, kHeadDim}).to(dtype).transpose(1, 2);
  auto dout = torch::randn({1, kHeadsQ, seq, kHeadDim}).to(dtype);
  const double scaling = 1.0 / std::sqrt(static_cast<double>(kHeadDim));
  Runner r;
  r.forward = [=]() mutable {
    torch::NoGradGuard no_grad;
    core(q, k, v, scaling);
  };
  r.train_forward = [=]() mutable -> std::function<void()> {
    auto ql = q.detach().requires_grad_(true), kl = k.detach().requires_grad_(true),
         vl = v.detach().requires_grad_(true);
    auto out = core(ql, kl, vl, scaling);
    return [=]() mutable { out.backward(dout); };
  };
  return r;
}

std::vector<BenchCase> attention_cases(const BenchConfig& config) {
  std::vector<int64_t> seqs = {512, 2048};
  if (!config.quick) seqs.push_back(8192);
  std::vector<BenchCase> cases;
  for (int64_t seq : seqs) {
    for (auto dtype : config.dtypes) {
      BenchCase c;
      c.name = "attention";
      c.layer = "Attention";
      c.kernel_id = "cpu_fused_attention";
      c.shape = "s" + std::to_string(seq) + " h16/8 d128";
      c.dtype = dtype;
      c.heavy = seq >= 2048;
      // Causal: half of the S x S score matrix. Forward: QK^T and PV; backward: QK^T again, dP,
      // dV, dQ, dK -- 2.5 times the forward.
      double gemm = 2.0 * kHeadsQ * seq * seq * kHeadDim / 2;
      c.forward_flops = 2 * gemm;
      c.forward_backward_flops = 7 * gemm;
      double qo = bytes_of(dtype, kHeadsQ * seq * kHeadDim);
      double kv = bytes_of(dtype, kHeadsKv * seq * kHeadDim);
      c.forward_bytes = qo + 2 * kv + qo;  // q, k, v -> out
      // dout, q, k, v, out -> dq, dk, dv (the log-sum-exp is not counted)
      c.forward_backward_bytes = c.forward_bytes + (2 * qo + 2 * kv + qo) + (qo + 2 * kv);
      if (seq > kReferenceMaxSeq) {
        double scores_mib = bytes_of(dtype, static_cast<double>(kHeadsQ) * seq * seq) / 1048576;
        c.reference_skipped = "the eager reference is not run above sequence " +
                              std::to_string(kReferenceMaxSeq) +
                              ": its [1, 16, S, S] scores alone are " +
                              std::to_string(static_cast<int64_t>(scores_mib)) + " MiB";
      }
      c.make = [=](bool use_kernel) { return make_runner(seq, dtype, use_kernel); };
      cases.push_back(c);
    }
  }
  return cases;
}

}  // namespace
}  // namespace fusebox::bench

FUSEBOX_BENCH_CASES(attention, fusebox::bench::attention_cases);
