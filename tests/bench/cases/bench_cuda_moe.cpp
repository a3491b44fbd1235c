// The Qwen3-MoE block on CUDA, the shape: 4096 tokens, hidden 2048, 128 experts, top-8,
// moe_intermediate_size 768 -- the reference forward (transformers' per-expert loop; ~220 ms
// fwd+bwd in bf16 on an H200) vs cuda_fused_moe (target: <= 6 ms). GEMM-bound: reported in
// GFLOP/s. --quick: 512 tokens, hidden 512, 32 experts, top-4, intermediate 256.
// Built only with a CUDA libtorch; the harness times it with CUDA events (bench_case.h).
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "bench/bench_case.h"
#include "kernels/api.h"
#include "model/moe.h"
#include "support/kernel_devices.h"

namespace fusebox::bench {
namespace {

struct MoeShape {
  int64_t tokens, hidden, experts, top_k, inter;
  std::string text() const {
    return std::to_string(tokens) + "x" + std::to_string(hidden) + " e" + std::to_string(experts) +
           " top" + std::to_string(top_k) + " i" + std::to_string(inter);
  }
};

Runner moe_runner(const MoeShape& s, torch::ScalarType dtype, bool use_kernel) {
  model::Qwen3Config config;
  config.model_type = "qwen3_moe";
  config.hidden_size = s.hidden;
  config.num_experts = s.experts;
  config.num_experts_per_tok = s.top_k;
  config.moe_intermediate_size = s.inter;
  config.norm_topk_prob = true;
  model::Qwen3MoeSparseMoeBlock block(config);
  block->to(torch::kCUDA, dtype);
  {
    // On the GPU: drawing 600M weights on the host would take longer than the benchmark.
    torch::NoGradGuard no_grad;
    for (auto& p : block->parameters())
      p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p.size(1))));
  }
  if (use_kernel) kernels::apply_kernel("cuda_fused_moe", *block, test::cuda_options());
  auto opts = torch::TensorOptions().device(torch::kCUDA).dtype(dtype);
  auto x = torch::randn({1, s.tokens, s.hidden}, opts);
  auto dy = torch::randn({1, s.tokens, s.hidden}, opts);
  Runner r;
  r.forward = [=]() mutable {
    torch::NoGradGuard no_grad;
    block->forward(x);
  };
  r.train_forward = [=]() mutable -> std::function<void()> {
    auto leaf = x.detach().requires_grad_(true);
    auto out = std::get<0>(block->forward(leaf));
    return [=]() mutable {
      out.backward(dy);
      for (auto& p : block->parameters())
        p.mutable_grad() = torch::Tensor();
    };
  };
  return r;
}

std::vector<BenchCase> cuda_moe_cases(const BenchConfig& config) {
  std::vector<BenchCase> cases;
  const MoeShape s =
      config.quick ? MoeShape{512, 512, 32, 4, 256} : MoeShape{4096, 2048, 128, 8, 768};
  for (auto dtype : config.dtypes) {
    BenchCase c;
    c.name = "cuda_moe";
    c.layer = "MoE";
    c.kernel_id = "cuda_fused_moe";
    c.shape = s.text();
    c.dtype = dtype;
    c.device = c10::DeviceType::CUDA;
    c.heavy = true;
    const double rows = static_cast<double>(s.tokens * s.top_k);
    // gate, up and down: three [rows x hidden x inter] GEMMs; backward twice that (dX, dW).
    c.forward_flops = 3 * 2.0 * rows * s.hidden * s.inter;
    c.forward_backward_flops = 3 * c.forward_flops;
    const double weights = bytes_of(dtype, 3.0 * s.experts * s.hidden * s.inter);
    const double acts = bytes_of(dtype, static_cast<double>(s.tokens) * s.hidden);
    c.forward_bytes = weights + 2 * acts;                                 // x, W -> out
    c.forward_backward_bytes = c.forward_bytes + 2 * weights + 3 * acts;  // + dy, W -> dx, dW
    c.make = [=](bool k) { return moe_runner(s, dtype, k); };
    cases.push_back(c);
  }
  return cases;
}

}  // namespace
}  // namespace fusebox::bench

FUSEBOX_BENCH_CASES(cuda_moe, fusebox::bench::cuda_moe_cases);
