// The Qwen3-MoE sparse block at the shape: tokens 4096, hidden 512, 16 experts, top-2,
// expert intermediate 256. The reference is transformers' per-expert loop
// (Qwen3MoeSparseMoeBlock::reference_forward); the kernel is cpu_fused_moe installed into the
// same block. GEMM-bound: reported in GFLOP/s over the expert and router GEMMs that any
// implementation must do. --quick uses 1024 tokens.
#include <torch/torch.h>

#include "bench/bench_case.h"
#include "kernels/api.h"
#include "model/moe.h"

namespace fusebox::bench {
namespace {

struct MoeShape {
  int64_t tokens, hidden, experts, top_k, inter;
};

model::Qwen3Config moe_config(const MoeShape& s) {
  model::Qwen3Config c;
  c.model_type = "qwen3_moe";
  c.hidden_size = s.hidden;
  c.num_experts = s.experts;
  c.num_experts_per_tok = s.top_k;
  c.moe_intermediate_size = s.inter;
  c.norm_topk_prob = true;
  return c;
}

Runner make_runner(const MoeShape& s, torch::ScalarType dtype, bool use_kernel) {
  model::Qwen3MoeSparseMoeBlock block(moe_config(s));
  block->to(dtype);
  if (use_kernel) kernels::apply_kernel("cpu_fused_moe", *block);
  auto x = torch::randn({1, s.tokens, s.hidden}).to(dtype);
  auto dy = torch::randn({1, s.tokens, s.hidden}).to(dtype);
  Runner r;
  r.forward = [=]() mutable {
    torch::NoGradGuard no_grad;
    block(x);
  };
  r.train_forward = [=]() mutable -> std::function<void()> {
    auto leaf = x.detach().requires_grad_(true);
    auto y = std::get<0>(block(leaf));
    return [=]() mutable {
      y.backward(dy);
      for (auto& p : block->parameters())
        p.mutable_grad() = torch::Tensor();
    };
  };
  return r;
}

std::vector<BenchCase> moe_cases(const BenchConfig& config) {
  MoeShape s{config.quick ? 1024 : 4096, 512, 16, 2, 256};
  std::vector<BenchCase> cases;
  for (auto dtype : config.dtypes) {
    BenchCase c;
    c.name = "moe";
    c.layer = "MoE";
    c.kernel_id = "cpu_fused_moe";
    c.shape = std::to_string(s.tokens) + "x512 e16 top2 i256";
    c.dtype = dtype;
    c.heavy = true;
    // Each routed (token, expert) pair runs three projections of hidden x inter; the router
    // is one tokens x hidden x experts GEMM. Backward: dX and dW for each, twice the forward.
    double pairs = static_cast<double>(s.tokens * s.top_k);
    double fwd = 3 * 2.0 * pairs * s.hidden * s.inter + 2.0 * s.tokens * s.hidden * s.experts;
    c.forward_flops = fwd;
    c.forward_backward_flops = 3 * fwd;
    double x = bytes_of(dtype, s.tokens * s.hidden);
    double w = bytes_of(dtype, s.experts * 3 * s.hidden * s.inter + s.hidden * s.experts);
    c.forward_bytes = x + w + x;
    c.forward_backward_bytes = c.forward_bytes + (x + x + w) + (x + w);
    c.make = [=](bool k) { return make_runner(s, dtype, k); };
    cases.push_back(c);
  }
  return cases;
}

}  // namespace
}  // namespace fusebox::bench

FUSEBOX_BENCH_CASES(moe, fusebox::bench::moe_cases);
