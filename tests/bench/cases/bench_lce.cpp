// The LM head and next-token loss (layer LMHeadLoss) at the shape: tokens 4096,
// hidden 512, Qwen3's vocabulary of 151,936. The reference materialises the [tokens x vocab]
// logits (causal_lm_loss(linear(h, W))); cpu_fused_linear_cross_entropy never holds more than
// one chunk of them. What matters here is peak added memory (target: at most 1/4 of the
// reference's) at a time within 1.3x. --quick uses 1024 tokens and a 32,768 vocabulary.
#include <torch/torch.h>

#include "bench/bench_case.h"
#include "kernels/api.h"
#include "model/lm_head_loss.h"

namespace fusebox::bench {
namespace {

Runner make_runner(int64_t tokens, int64_t hidden, int64_t vocab, torch::ScalarType dtype,
                   bool use_kernel) {
  model::LMHeadLoss head;
  if (use_kernel) kernels::apply_kernel("cpu_fused_linear_cross_entropy", *head);
  // Two sequences, so the shift drops one row per sequence as in training.
  auto h = torch::randn({2, tokens / 2, hidden}).to(dtype);
  auto w = (torch::randn({vocab, hidden}) * 0.02).to(dtype);
  auto labels = torch::randint(vocab, {2, tokens / 2}, torch::kInt64);
  Runner r;
  r.forward = [=]() mutable {
    torch::NoGradGuard no_grad;
    head(h, w, labels, 0);
  };
  r.train_forward = [=]() mutable -> std::function<void()> {
    auto hl = h.detach().requires_grad_(true), wl = w.detach().requires_grad_(true);
    auto loss = head(hl, wl, labels, 0);
    return [=]() mutable { loss.backward(); };
  };
  return r;
}

std::vector<BenchCase> lce_cases(const BenchConfig& config) {
  const int64_t hidden = 512;
  const int64_t tokens = config.quick ? 1024 : 4096;
  const int64_t vocab = config.quick ? 32768 : 151936;
  std::vector<BenchCase> cases;
  for (auto dtype : config.dtypes) {
    BenchCase c;
    c.name = "lm_head_loss";
    c.layer = "LMHeadLoss";
    c.kernel_id = "cpu_fused_linear_cross_entropy";
    c.shape = std::to_string(tokens) + "x512 v" + std::to_string(vocab);
    c.dtype = dtype;
    c.heavy = true;
    double gemm = 2.0 * tokens * hidden * vocab;
    c.forward_flops = gemm;
    c.forward_backward_flops = 3 * gemm;  // logits, dH, dW
    double hb = bytes_of(dtype, tokens * hidden), wb = bytes_of(dtype, vocab * hidden);
    c.forward_bytes = hb + wb;
    c.forward_backward_bytes = c.forward_bytes + 2 * (hb + wb);
    c.make = [=](bool k) { return make_runner(tokens, hidden, vocab, dtype, k); };
    cases.push_back(c);
  }
  return cases;
}

}  // namespace
}  // namespace fusebox::bench

FUSEBOX_BENCH_CASES(lce, fusebox::bench::lce_cases);
