// cuda_fused_moe vs the MoE block's reference forward (transformers' per-expert loop) on the
// same GPU: the output, the router logits, dX, d(gate.weight) and every expert's weight
// gradients, fp32/bf16/fp16, odd sizes, a non-contiguous input, every element (tolerances from
// support/tolerances.h). fp32 also against the reference on the CPU. Both expert-GEMM paths
// run: bf16 with hidden and intermediate multiples of 16 takes torch::_grouped_mm on sm_90
// (checked below), everything else the per-expert loop. Routing corner cases: experts that get
// no token, one expert that gets every token, top-1, top-k = number of experts, several sort
// tiles (more than 256 assignments). test_cuda_moe_routing.cpp has the rest.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/cuda/CUDAContext.h>
#include <torch/version.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "cuda/test_cuda_moe_util.h"
#include "kernels/api.h"
#include "model/moe.h"
#include "ops/moe/cuda_moe_expert_gemm.h"
#include "support/assert_close.h"
#include "support/cuda_test.h"
#include "support/kernel_devices.h"

namespace fusebox::test {
namespace {

std::string case_name(const ::testing::TestParamInfo<MoeCase>& info) {
  const MoeCase& c = info.param;
  return std::string(c10::toString(c.dtype)) + "_t" + std::to_string(c.tokens) + "_h" +
         std::to_string(c.hidden) + "_i" + std::to_string(c.intermediate) + "_top" +
         std::to_string(c.top_k) + "of" + std::to_string(c.experts) + (c.norm ? "_norm" : "") +
         (c.layout == MoeLayout::kStrided ? "_strided" : "") +
         (c.router == MoeRouter::kOneExpertTakesAll ? "_one_expert_takes_all" : "");
}

void expect_same_grads(const MoeGrads& k, const MoeGrads& ref, torch::ScalarType dtype,
                       int64_t tokens, const std::string& against) {
  EXPECT_TRUE(all_close(k.out, ref.out, tolerance(dtype, Quantity::kOutput), "out" + against));
  EXPECT_TRUE(
      all_close(k.logits, ref.logits, tolerance(dtype, Quantity::kOutput), "logits" + against));
  EXPECT_TRUE(all_close(k.dx, ref.dx, tolerance(dtype, Quantity::kInputGrad), "dx" + against));
  auto reduced = tolerance(dtype, Quantity::kReducedGrad, tokens);
  ASSERT_EQ(k.params.size(), ref.params.size());
  for (size_t i = 0; i < k.params.size(); ++i) {
    const auto& [name, grad] = k.params[i];
    const auto& expected = ref.params[i].second;
    // An expert that no token chose runs in neither, so it gets no gradient in either.
    ASSERT_EQ(grad.defined(), expected.defined()) << name << against;
    if (expected.defined()) {
      EXPECT_TRUE(all_close(grad, expected, reduced, "d " + name + against));
    }
  }
}

class CudaMoEParity : public ::testing::TestWithParam<MoeCase> {};

TEST_P(CudaMoEParity, ForwardAndGradientsMatchReference) {
  FUSEBOX_REQUIRE_CUDA();
  const MoeCase c = GetParam();
  torch::manual_seed(4321 + c.tokens * 7 + c.hidden * 3 + c.experts + c.top_k);
  model::Qwen3MoeSparseMoeBlock cpu_block(moe_config(c));
  init_moe_weights(cpu_block, c);
  auto x = make_moe_input(c);  // fp32 on the CPU
  auto dy = torch::randn({1, c.tokens, c.hidden});
  auto dlogits = torch::randn({c.tokens, c.experts});

  model::Qwen3MoeSparseMoeBlock block(moe_config(c));
  copy_moe_weights(*cpu_block, *block);
  block->to(cuda0(), c.dtype);
  auto on_gpu = [&](const torch::Tensor& t) { return t.to(cuda0(), c.dtype); };
  auto ref = run_moe(block, on_gpu(x), c.layout, on_gpu(dy), on_gpu(dlogits), true);
  auto report = kernels::apply_kernel("cuda_fused_moe", *block, cuda_options());
  ASSERT_EQ(report.count("cuda_fused_moe"), 1);
  auto k = run_moe(block, on_gpu(x), c.layout, on_gpu(dy), on_gpu(dlogits), false);

  auto chosen = model::route_top_k(ref.logits.to(torch::kFloat32), c.top_k, c.norm, c.dtype);
  if (c.router == MoeRouter::kOneExpertTakesAll) {
    ASSERT_TRUE(chosen.experts.select(1, 0).eq(2).all().item<bool>()) << "expert 2 must take all";
  }
  EXPECT_TRUE(k.out.is_cuda());
  EXPECT_EQ(k.out.scalar_type(), c.dtype);
  EXPECT_EQ(k.logits.scalar_type(), c.dtype);
  expect_same_grads(k, ref, c.dtype, c.tokens, "");

  if (c.dtype == torch::kFloat32) {  // and against the reference on the CPU
    auto cpu = run_moe(cpu_block, x, c.layout, dy, dlogits, true);
    auto cpu_route = model::route_top_k(cpu.logits, c.top_k, c.norm, torch::kFloat32);
    ASSERT_TRUE(cpu_route.experts.equal(chosen.experts.cpu()))
        << "CPU and GPU logits route differently (a near tie); pick another seed";
    expect_same_grads(k, cpu, c.dtype, c.tokens, " vs CPU");
  }
}

std::vector<MoeCase> all_cases() {
  std::vector<MoeCase> cases;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kHalf}) {
    for (int64_t tokens : {1, 13, 37}) {
      cases.push_back({dtype, tokens, 7, 5, 4, 2, true});
      cases.push_back({dtype, tokens, 33, 24, 6, 2, false});
    }
    // Aligned sizes: the grouped path for bf16 on sm_90; 300 * 2 assignments span 3 sort tiles.
    cases.push_back({dtype, 37, 64, 48, 6, 2, true});
    cases.push_back({dtype, 300, 64, 48, 8, 2, false});
    // top-1 of many experts: with 13 tokens some experts get none.
    cases.push_back({dtype, 13, 33, 24, 8, 1, true});
    cases.push_back({dtype, 13, 64, 48, 8, 1, false});
    // top-k = number of experts: every expert gets every token.
    cases.push_back({dtype, 37, 7, 5, 5, 5, true});
    cases.push_back({dtype, 37, 64, 48, 5, 5, false});
    cases.push_back({dtype, 37, 33, 24, 6, 3, true, MoeLayout::kStrided});
    cases.push_back({dtype, 37, 64, 16, 6, 3, false, MoeLayout::kStrided});
    cases.push_back(
        {dtype, 37, 7, 5, 6, 1, false, MoeLayout::kContiguous, MoeRouter::kOneExpertTakesAll});
    cases.push_back(
        {dtype, 37, 64, 48, 6, 2, true, MoeLayout::kContiguous, MoeRouter::kOneExpertTakesAll});
  }
  // Many assignments (16 sort tiles) through the grouped path.
  cases.push_back({torch::kBFloat16, 1000, 64, 32, 16, 4, true});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(MoE, CudaMoEParity, ::testing::ValuesIn(all_cases()), case_name);

// The aligned bf16 cases above only test the grouped path if the kernel takes it there.
TEST(CudaMoEGroupedGemm, ServesAlignedBf16OnHopper) {
  FUSEBOX_REQUIRE_CUDA();
  const auto device = cuda0();
  const cudaDeviceProp* props = at::cuda::getDeviceProperties(0);
  const bool fast_path_gpu = props->major == 9 || props->major == 10;
  const bool torch_has_it =
      TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8);
  std::string why;
  EXPECT_EQ(ops::cuda_moe_grouped_gemm_supported(torch::kBFloat16, device, 64, 48, 8, &why),
            fast_path_gpu && torch_has_it)
      << why;
  // The reasons are checked in order: torch version, dtype, GPU, alignment.
  EXPECT_FALSE(ops::cuda_moe_grouped_gemm_supported(torch::kFloat32, device, 64, 48, 8, &why));
  if (torch_has_it) {
    EXPECT_NE(why.find("bf16"), std::string::npos) << why;
  }
  EXPECT_FALSE(ops::cuda_moe_grouped_gemm_supported(torch::kBFloat16, device, 33, 40, 8, &why));
  if (torch_has_it && fast_path_gpu) {
    EXPECT_NE(why.find("multiples of 16"), std::string::npos) << why;
  }
}

}  // namespace
}  // namespace fusebox::test
