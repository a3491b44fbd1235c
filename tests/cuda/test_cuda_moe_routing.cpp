// cuda_fused_moe beyond single-pass parity (test_cuda_moe.cpp): experts that no token chose
// get no gradient on both expert-GEMM paths, an inference forward builds no graph, a retained
// graph backpropagates twice, two runs agree bit for bit (no float atomics anywhere), and a
// wrong hidden size is rejected with a message that says what was expected.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "cuda/test_cuda_moe_util.h"
#include "kernels/api.h"
#include "model/moe.h"
#include "support/assert_close.h"
#include "support/cuda_test.h"
#include "support/kernel_devices.h"

namespace fusebox::test {
namespace {

model::Qwen3MoeSparseMoeBlock cuda_block(const MoeCase& c, bool kernel) {
  model::Qwen3MoeSparseMoeBlock block(moe_config(c));
  init_moe_weights(block, c);
  block->to(cuda0(), c.dtype);
  if (kernel) kernels::apply_kernel("cuda_fused_moe", *block, cuda_options());
  return block;
}

torch::Tensor cuda_input(const MoeCase& c) {
  return make_moe_input(c).to(cuda0(), c.dtype);
}

class CudaMoEUnusedExperts : public ::testing::TestWithParam<torch::ScalarType> {};

// One token, top-1 of 8 experts: seven experts get no token. fp32 runs one GEMM per expert,
// bf16 with these aligned sizes the grouped GEMM (on sm_90), whose weight-gradient output has
// slots for every expert: the empty ones must still come back undefined, as in the reference.
TEST_P(CudaMoEUnusedExperts, GetNoGradient) {
  FUSEBOX_REQUIRE_CUDA();
  torch::manual_seed(77);
  MoeCase c{GetParam(), 1, 64, 48, 8, 1, true};
  auto block = cuda_block(c, /*kernel=*/true);
  auto [out, logits] = block->forward(cuda_input(c));
  out.sum().backward();
  int64_t chosen = logits.argmax(-1).item<int64_t>();
  for (int64_t e = 0; e < c.experts; ++e) {
    const auto& mlp = block->expert(e);
    for (const auto* w : {&mlp.gate_proj->weight, &mlp.up_proj->weight, &mlp.down_proj->weight}) {
      EXPECT_EQ(w->grad().defined(), e == chosen) << "expert " << e;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaMoEUnusedExperts,
                         ::testing::Values(torch::kFloat32, torch::kBFloat16),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

TEST(CudaMoE, InferenceForwardMatchesAndBuildsNoGraph) {
  FUSEBOX_REQUIRE_CUDA();
  torch::manual_seed(78);
  MoeCase c{torch::kBFloat16, 37, 64, 48, 6, 2, true};
  auto block = cuda_block(c, /*kernel=*/true);
  auto x = cuda_input(c);
  torch::NoGradGuard no_grad;
  auto [out, logits] = block->forward(x);
  auto [ref, ref_logits] = block->reference_forward(x);
  EXPECT_FALSE(out.requires_grad());
  EXPECT_TRUE(all_close(out, ref, tolerance(c.dtype, Quantity::kOutput), "out"));
  EXPECT_TRUE(all_close(logits, ref_logits, tolerance(c.dtype, Quantity::kOutput), "logits"));
}

TEST(CudaMoE, RetainedGraphBackpropagatesTwice) {
  FUSEBOX_REQUIRE_CUDA();
  torch::manual_seed(79);
  MoeCase c{torch::kFloat32, 13, 33, 24, 6, 2, true};
  auto block = cuda_block(c, /*kernel=*/true);
  auto x = cuda_input(c).requires_grad_(true);
  auto [out, logits] = block->forward(x);
  // sum and view save no tensors, so the MoE node is the first one a third pass reaches.
  auto loss = out.sum();
  loss.backward({}, /*retain_graph=*/true);
  auto once = x.grad().clone();
  loss.backward();
  EXPECT_TRUE(all_close(x.grad(), 2 * once, tolerance(c.dtype, Quantity::kInputGrad), "dx"));
  // The node's saved tensors are gone now: a third pass must say so, not read freed memory.
  try {
    loss.backward();
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda_fused_moe"), std::string::npos) << e.what();
  }
}

TEST(CudaMoE, TwoRunsAgreeBitForBit) {
  FUSEBOX_REQUIRE_CUDA();
  torch::manual_seed(80);
  MoeCase c{torch::kBFloat16, 300, 64, 48, 8, 2, true};
  auto block = cuda_block(c, /*kernel=*/true);
  auto x = cuda_input(c);
  auto dy = torch::randn({1, c.tokens, c.hidden}).to(cuda0(), c.dtype);
  auto dlogits = torch::randn({c.tokens, c.experts}).to(cuda0(), c.dtype);
  auto first = run_moe(block, x, c.layout, dy, dlogits, /*reference=*/false);
  auto second = run_moe(block, x, c.layout, dy, dlogits, /*reference=*/false);
  EXPECT_TRUE(first.out.equal(second.out));
  EXPECT_TRUE(first.dx.equal(second.dx));
  for (size_t i = 0; i < first.params.size(); ++i) {
    const auto& a = first.params[i].second;
    const auto& b = second.params[i].second;
    ASSERT_EQ(a.defined(), b.defined()) << first.params[i].first;
    if (a.defined()) {
      EXPECT_TRUE(a.equal(b)) << first.params[i].first;
    }
  }
}

TEST(CudaMoE, RejectsAWrongHiddenSize) {
  FUSEBOX_REQUIRE_CUDA();
  MoeCase c{torch::kFloat32, 3, 7, 5, 4, 2, true};
  auto block = cuda_block(c, /*kernel=*/true);
  try {
    block->forward(torch::randn({1, 3, 8}, cuda0()));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected hidden states [batch, seq, 7]"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace fusebox::test
