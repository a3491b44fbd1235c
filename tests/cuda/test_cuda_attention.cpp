// cuda_fused_attention on a GPU against the eager reference on the same GPU: output, dQ, dK,
// dV, every element; fp32/bf16/fp16, GQA ratios 1-3, head_dim 64/128 and an odd one, odd
// sequence lengths, decode shapes (Sq < Sk), a non-contiguous q. Skipped without a GPU.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/api.h"
#include "model/attention.h"
#include "model/attention_core.h"
#include "support/assert_close.h"
#include "support/cuda_test.h"
#include "support/kernel_devices.h"

namespace fusebox::test {
namespace {

struct Case {
  torch::ScalarType dtype;
  int64_t heads, kv_heads, q_len, k_len, head_dim;
};

std::string describe(const Case& c) {
  return std::string(c10::toString(c.dtype)) + "_h" + std::to_string(c.heads) + "kv" +
         std::to_string(c.kv_heads) + "_q" + std::to_string(c.q_len) + "k" +
         std::to_string(c.k_len) + "_d" + std::to_string(c.head_dim);
}
void PrintTo(const Case& c, std::ostream* out) {
  *out << describe(c);
}

// SDPA's backends accumulate in fp32 but tile differently from eager's matmul + softmax, and
// the eager reference rounds scores and probabilities to the activation dtype: the attention
// entries of the one tolerance table cover that where present; here the same bounds, stated.
Tolerance attention_tolerance(torch::ScalarType dtype, bool gradient) {
  if (dtype == torch::kFloat32) return gradient ? Tolerance{1e-4, 1e-3} : Tolerance{2e-5, 1e-4};
  if (dtype == torch::kBFloat16) return gradient ? Tolerance{6e-2, 5e-2} : Tolerance{2e-2, 2e-2};
  return gradient ? Tolerance{8e-3, 8e-3} : Tolerance{3e-3, 3e-3};
}

class CudaAttentionParity : public ::testing::TestWithParam<Case> {};

TEST_P(CudaAttentionParity, ForwardAndGradientsMatchEager) {
  FUSEBOX_REQUIRE_CUDA();
  const Case c = GetParam();
  torch::manual_seed(17 + c.q_len + c.head_dim);
  // q from a transpose of [B, S, H, D], as Qwen3Attention makes it: not contiguous.
  auto q0 = torch::randn({2, c.q_len, c.heads, c.head_dim}).to(cuda0(), c.dtype).transpose(1, 2);
  auto k0 = torch::randn({2, c.kv_heads, c.k_len, c.head_dim}).to(cuda0(), c.dtype);
  auto v0 = torch::randn({2, c.kv_heads, c.k_len, c.head_dim}).to(cuda0(), c.dtype);
  auto dy = torch::randn({2, c.heads, c.q_len, c.head_dim}).to(cuda0(), c.dtype);
  double scaling = 1.0 / std::sqrt(static_cast<double>(c.head_dim));

  auto run = [&](model::AttentionCore& core) {
    auto q = q0.detach().requires_grad_(true), k = k0.detach().requires_grad_(true),
         v = v0.detach().requires_grad_(true);
    auto y = core(q, k, v, scaling);
    y.backward(dy);
    return std::vector<torch::Tensor>{y.detach(), q.grad(), k.grad(), v.grad()};
  };
  model::AttentionCore eager;  // the reference: eager unless set otherwise
  auto expected = run(eager);
  model::AttentionCore fused;
  auto report = kernels::apply_kernel("cuda_fused_attention", *fused, cuda_options());
  ASSERT_EQ(report.count("cuda_fused_attention"), 1);
  auto actual = run(fused);
  const char* what[] = {"output", "dQ", "dK", "dV"};
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(all_close(actual[i], expected[i], attention_tolerance(c.dtype, i > 0), what[i]));
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kHalf}) {
    cases.push_back({dtype, 4, 4, 37, 37, 64});     // MHA, odd length
    cases.push_back({dtype, 8, 4, 100, 100, 128});  // GQA 2
    cases.push_back({dtype, 6, 2, 257, 257, 72});   // GQA 3, odd head_dim
    cases.push_back({dtype, 6, 2, 1, 37, 64});      // decode: one query, cached keys
    cases.push_back({dtype, 6, 2, 5, 37, 64});      // a few queries after a cache
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Attention, CudaAttentionParity, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) { return describe(info.param); });

}  // namespace
}  // namespace fusebox::test
