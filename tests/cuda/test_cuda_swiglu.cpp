// cuda_fused_swiglu on a GPU: the Qwen3 MLP's forward, dX and the three weight gradients
// against the reference MLP on the same GPU, and in fp32 against the reference on the CPU;
// fp32/bf16/fp16, odd hidden/intermediate sizes (the kernels' scalar tail), non-contiguous
// inputs, an empty batch; the fused activation alone against silu(g) * u with gate values in
// both tails of the sigmoid. Every element (support/tolerances.h). Skipped without a GPU.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/api.h"
#include "model/mlp.h"
#include "ops/swiglu/cuda_swiglu_activation.h"
#include "support/assert_close.h"
#include "support/cuda_test.h"
#include "support/kernel_devices.h"

namespace fusebox::test {
namespace {

enum class Layout { kContiguous, kTransposed, kThreeDim };

struct Case {
  torch::ScalarType dtype;
  int64_t rows, hidden, intermediate;
  Layout layout;
};

std::string describe(const Case& c) {
  const char* layout = c.layout == Layout::kContiguous   ? "contig"
                       : c.layout == Layout::kTransposed ? "transposed"
                                                         : "3d";
  return std::string(c10::toString(c.dtype)) + "_" + std::to_string(c.rows) + "x" +
         std::to_string(c.hidden) + "x" + std::to_string(c.intermediate) + "_" + layout;
}

void PrintTo(const Case& c, std::ostream* out) {
  *out << describe(c);
}

// Drawn on the CPU in fp32, so that the GPU and CPU runs see the same values.
torch::Tensor make_input(const Case& c) {
  switch (c.layout) {
    case Layout::kContiguous:
      return torch::randn({c.rows, c.hidden});
    case Layout::kTransposed:
      return torch::randn({c.hidden, c.rows}).t();
    case Layout::kThreeDim:  // [batch, seq, hidden] as the decoder layer passes it
      return torch::randn({c.rows, 3, c.hidden});
  }
  return {};
}

struct Grads {
  torch::Tensor y, dx, dgate, dup, ddown;
};

Grads run(model::Qwen3MLP& mlp, const torch::Tensor& x, const torch::Tensor& dy, bool reference) {
  for (auto& p : mlp->parameters())
    p.mutable_grad() = torch::Tensor();
  auto xi = x.detach().clone().requires_grad_(true);
  auto y = reference ? mlp->reference_forward(xi) : mlp->forward(xi);
  y.backward(dy);
  return {y.detach(), xi.grad(), mlp->gate_proj->weight.grad().clone(),
          mlp->up_proj->weight.grad().clone(), mlp->down_proj->weight.grad().clone()};
}

void expect_close(const Grads& k, const Grads& ref, torch::ScalarType dtype, int64_t tokens,
                  const std::string& against) {
  // y sums `intermediate` products whose activation may differ from the reference's by an
  // ulp: compared like a value that flowed back through a row (as the CPU parity test does).
  auto row = tolerance(dtype, Quantity::kInputGrad);
  auto reduced = tolerance(dtype, Quantity::kReducedGrad, tokens);
  EXPECT_TRUE(all_close(k.y, ref.y, row, "y vs " + against));
  EXPECT_TRUE(all_close(k.dx, ref.dx, row, "dx vs " + against));
  EXPECT_TRUE(all_close(k.dgate, ref.dgate, reduced, "d gate_proj.weight vs " + against));
  EXPECT_TRUE(all_close(k.dup, ref.dup, reduced, "d up_proj.weight vs " + against));
  EXPECT_TRUE(all_close(k.ddown, ref.ddown, reduced, "d down_proj.weight vs " + against));
}

class CudaSwiGLUParity : public ::testing::TestWithParam<Case> {};

TEST_P(CudaSwiGLUParity, ForwardAndGradientsMatchReference) {
  FUSEBOX_REQUIRE_CUDA();
  const Case c = GetParam();
  torch::manual_seed(4321 + c.rows * 5 + c.hidden * 3 + c.intermediate);
  model::Qwen3MLP mlp(c.hidden, c.intermediate);
  {
    // Weights ~ N(0, 1/fan_in): g, u, y and the gradients are all O(1), as the table assumes.
    torch::NoGradGuard no_grad;
    for (auto* lin : {&mlp->gate_proj, &mlp->up_proj, &mlp->down_proj}) {
      auto& w = (*lin)->weight;
      w.copy_(torch::randn(w.sizes()) / std::sqrt(static_cast<double>(w.size(1))));
    }
  }
  auto x_cpu = make_input(c);
  auto dy_cpu = torch::randn(x_cpu.sizes());
  int64_t tokens = x_cpu.numel() / c.hidden;

  if (c.dtype == torch::kFloat32) {  // the CPU reference first, while the model is on the CPU
    auto cpu_ref = run(mlp, x_cpu, dy_cpu, /*reference=*/true);
    mlp->to(cuda0());
    kernels::apply_kernel("cuda_fused_swiglu", *mlp, cuda_options());
    auto k = run(mlp, x_cpu.to(cuda0()), dy_cpu.to(cuda0()), /*reference=*/false);
    expect_close(k, cpu_ref, c.dtype, tokens, "CPU reference");
    kernels::unkernelize(*mlp);
  }
  mlp->to(cuda0(), c.dtype);
  // Non-contiguous layouts survive the move: .to() keeps strides of dense tensors.
  auto x = x_cpu.to(cuda0(), c.dtype), dy = dy_cpu.to(cuda0(), c.dtype);
  if (c.layout == Layout::kTransposed) {
    ASSERT_FALSE(x.is_contiguous());
  }
  auto ref = run(mlp, x, dy, /*reference=*/true);
  auto report = kernels::apply_kernel("cuda_fused_swiglu", *mlp, cuda_options());
  ASSERT_EQ(report.count("cuda_fused_swiglu"), 1);
  auto k = run(mlp, x, dy, /*reference=*/false);
  EXPECT_EQ(k.y.scalar_type(), c.dtype);
  expect_close(k, ref, c.dtype, tokens, "GPU reference");
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kHalf}) {
    cases.push_back({dtype, 37, 1, 3, Layout::kContiguous});
    cases.push_back({dtype, 37, 7, 13, Layout::kContiguous});  // 481 elements: vectors + tail
    cases.push_back({dtype, 111, 500, 297, Layout::kContiguous});
    cases.push_back({dtype, 1, 64, 175, Layout::kContiguous});
    cases.push_back({dtype, 301, 48, 1000, Layout::kContiguous});
    cases.push_back({dtype, 19, 111, 45, Layout::kTransposed});
    cases.push_back({dtype, 2, 48, 80, Layout::kThreeDim});
    cases.push_back({dtype, 0, 7, 13, Layout::kContiguous});  // a MoE expert that got no token
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(SwiGLU, CudaSwiGLUParity, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) { return describe(info.param); });

// The activation's spec: silu in fp32, rounded once to the dtype, times up in the dtype --
// transformers' act_fn(g) * u with torch >= 2 on CUDA.
torch::Tensor silu_times_up(const torch::Tensor& g, const torch::Tensor& u) {
  return torch::silu(g.to(torch::kFloat32)).to(g.scalar_type()) * u;
}

class CudaSwiGLUActivation : public ::testing::TestWithParam<torch::ScalarType> {};

TEST_P(CudaSwiGLUActivation, ForwardAndGradientsMatchSpec) {
  FUSEBOX_REQUIRE_CUDA();
  const auto dtype = GetParam();
  torch::manual_seed(99);
  // Columns 0..110 of a [37, 222] buffer: a non-contiguous gate, made contiguous at entry;
  // its 37 x 111 = 4107 elements take 16-byte vectors and a scalar tail.
  auto g_full = torch::randn({37, 222}) * 3;
  g_full.index_put_({0, torch::indexing::Slice(0, 6)},
                    torch::tensor({-100.f, -30.f, -17.f, 17.f, 30.f, 100.f}));
  auto g = g_full.to(cuda0(), dtype).slice(1, 0, 111);
  auto u = torch::randn({37, 111}).to(cuda0(), dtype);
  auto dh = torch::randn({37, 111}).to(cuda0(), dtype);
  ASSERT_FALSE(g.is_contiguous());

  auto g_ref = g.detach().clone().requires_grad_(true);
  auto u_ref = u.detach().clone().requires_grad_(true);
  auto h_ref = silu_times_up(g_ref, u_ref);
  h_ref.backward(dh);
  auto g_k = g.detach().requires_grad_(true);
  auto u_k = u.detach().clone().requires_grad_(true);
  auto h_k = ops::cuda_swiglu_activation(g_k, u_k);
  h_k.backward(dh);

  EXPECT_TRUE(all_close(h_k, h_ref, tolerance(dtype, Quantity::kOutput), "h"));
  EXPECT_TRUE(all_close(g_k.grad(), g_ref.grad(), tolerance(dtype, Quantity::kInputGrad), "dg"));
  EXPECT_TRUE(all_close(u_k.grad(), u_ref.grad(), tolerance(dtype, Quantity::kInputGrad), "du"));
}

INSTANTIATE_TEST_SUITE_P(SwiGLU, CudaSwiGLUActivation,
                         ::testing::Values(torch::kFloat32, torch::kBFloat16, torch::kHalf),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

// Same formula as ATen's CUDA silu (expf, IEEE division) and the same roundings: the bf16
// forward differs from the spec at most where nvcc builds of expf could disagree.
TEST(CudaSwiGLUActivation, Bf16ForwardIsNearlyBitExact) {
  FUSEBOX_REQUIRE_CUDA();
  torch::manual_seed(5);
  auto g = torch::randn({256, 1000}).to(cuda0(), torch::kBFloat16);
  auto u = torch::randn({256, 1000}).to(cuda0(), torch::kBFloat16);
  auto ref = silu_times_up(g, u);
  auto h = ops::cuda_swiglu_activation(g, u);
  double mismatched = h.ne(ref).to(torch::kFloat64).mean().item<double>();
  EXPECT_LT(mismatched, 0.001) << "fraction of elements differing from the reference";
}

TEST(CudaSwiGLUActivation, RejectsMismatchedShapes) {
  FUSEBOX_REQUIRE_CUDA();
  auto g = torch::randn({3, 4}).to(cuda0()), u = torch::randn({3, 5}).to(cuda0());
  EXPECT_THROW(ops::cuda_swiglu_activation(g, u), c10::Error);
}

}  // namespace
}  // namespace fusebox::test
