// cuda_fused_rmsnorm on a GPU: forward, dX and dW against the reference RMSNorm on the same
// GPU, and in fp32 also against the reference on the CPU; fp32/bf16/fp16, odd hidden sizes
// (scalar path), rows too long for registers (streamed path), more rows than the backward's
// grid (its row loop), non-contiguous inputs; every element (support/tolerances.h).
// Skipped, not passed, without a GPU.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "kernels/api.h"
#include "model/rmsnorm.h"
#include "support/assert_close.h"
#include "support/cuda_test.h"
#include "support/kernel_devices.h"

namespace fusebox::test {
namespace {

enum class Layout { kContiguous, kTransposed, kStrided };

struct Case {
  torch::ScalarType dtype;
  int64_t rows;
  int64_t hidden;
  Layout layout;
};

std::string describe(const Case& c) {
  const char* layout = c.layout == Layout::kContiguous   ? "contig"
                       : c.layout == Layout::kTransposed ? "transposed"
                                                         : "strided";
  return std::string(c10::toString(c.dtype)) + "_" + std::to_string(c.rows) + "x" +
         std::to_string(c.hidden) + "_" + layout;
}

void PrintTo(const Case& c, std::ostream* out) {
  *out << describe(c);
}

// The input on the GPU, [rows, hidden], in the requested layout (values drawn on the CPU).
torch::Tensor make_input(const Case& c) {
  switch (c.layout) {
    case Layout::kContiguous:
      return torch::randn({c.rows, c.hidden}).to(cuda0(), c.dtype);
    case Layout::kTransposed:
      return torch::randn({c.hidden, c.rows}).to(cuda0(), c.dtype).t();
    case Layout::kStrided:
      return torch::randn({c.rows, 2 * c.hidden}).to(cuda0(), c.dtype).slice(1, 0, 2 * c.hidden, 2);
  }
  return {};
}

struct Result {
  torch::Tensor y, dx, dw;
};

Result reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& dy,
                 double eps) {
  auto xl = x.detach().clone().requires_grad_(true);
  auto wl = w.detach().clone().requires_grad_(true);
  auto y = model::rmsnorm_reference(xl, wl, eps);
  y.backward(dy);
  return {y.detach(), xl.grad(), wl.grad()};
}

class CudaRMSNormParity : public ::testing::TestWithParam<Case> {};

TEST_P(CudaRMSNormParity, ForwardAndGradientsMatchReference) {
  FUSEBOX_REQUIRE_CUDA();
  const Case c = GetParam();
  torch::manual_seed(99 + c.rows * 7 + c.hidden);
  const double eps = 1e-6;
  auto x = make_input(c);
  if (c.layout != Layout::kContiguous) {
    ASSERT_FALSE(x.is_contiguous());
  }
  auto weight = (1.0 + 0.5 * torch::randn({c.hidden})).to(cuda0(), c.dtype);
  auto dy = torch::randn({c.rows, c.hidden}).to(cuda0(), c.dtype);

  model::RMSNorm norm(c.hidden, eps);
  norm->to(cuda0(), c.dtype);
  {
    torch::NoGradGuard no_grad;
    norm->weight.copy_(weight);
  }
  auto report = kernels::apply_kernel("cuda_fused_rmsnorm", *norm, cuda_options());
  ASSERT_EQ(report.count("cuda_fused_rmsnorm"), 1);
  auto xk = x.detach().clone().requires_grad_(true);
  auto y = norm(xk);
  y.backward(dy);
  Result k{y.detach(), xk.grad(), norm->weight.grad()};

  EXPECT_EQ(k.y.scalar_type(), c.dtype);
  EXPECT_TRUE(k.y.is_cuda());
  auto out = tolerance(c.dtype, Quantity::kOutput);
  auto in_grad = tolerance(c.dtype, Quantity::kInputGrad);
  auto reduced = tolerance(c.dtype, Quantity::kReducedGrad, c.rows);
  auto gpu = reference(x, weight, dy, eps);
  EXPECT_TRUE(all_close(k.y, gpu.y, out, "y vs GPU reference"));
  EXPECT_TRUE(all_close(k.dx, gpu.dx, in_grad, "dx vs GPU reference"));
  EXPECT_TRUE(all_close(k.dw, gpu.dw, reduced, "dw vs GPU reference"));
  if (c.dtype == torch::kFloat32) {
    auto cpu = reference(x.cpu(), weight.cpu(), dy.cpu(), eps);
    EXPECT_TRUE(all_close(k.y, cpu.y, out, "y vs CPU reference"));
    EXPECT_TRUE(all_close(k.dx, cpu.dx, in_grad, "dx vs CPU reference"));
    EXPECT_TRUE(all_close(k.dw, cpu.dw, reduced, "dw vs CPU reference"));
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kHalf}) {
    // 1, 7, 111, 12345: scalar path; 500 in fp32 / 1000 / 4096: vector path.
    for (int64_t hidden : {1, 7, 111, 500, 1000, 4096})
      cases.push_back({dtype, 37, hidden, Layout::kContiguous});
    cases.push_back({dtype, 111, 500, Layout::kContiguous});
    cases.push_back({dtype, 1, 128, Layout::kContiguous});
    cases.push_back({dtype, 3, 20000, Layout::kContiguous});    // too long for registers
    cases.push_back({dtype, 5, 12345, Layout::kContiguous});    // long and odd
    cases.push_back({dtype, 5000, 1024, Layout::kContiguous});  // backward blocks loop rows
    cases.push_back({dtype, 19, 111, Layout::kTransposed});
    cases.push_back({dtype, 23, 1000, Layout::kStrided});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllDtypesAndShapes, CudaRMSNormParity, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) { return describe(info.param); });

// The bf16 forward reproduces the reference's two roundings: on one GPU it differs only
// where the row sum's order (or rsqrt's last bit) flips a rounding.
TEST(CudaRMSNorm, Bf16ForwardIsNearlyBitExact) {
  FUSEBOX_REQUIRE_CUDA();
  torch::manual_seed(11);
  model::RMSNorm norm(1024, 1e-6);
  norm->to(cuda0(), torch::kBFloat16);
  auto x = torch::randn({256, 1024}).to(cuda0(), torch::kBFloat16);
  auto ref = norm->reference_forward(x);
  kernels::apply_kernel("cuda_fused_rmsnorm", *norm, cuda_options());
  double mismatched = norm(x).ne(ref).to(torch::kFloat64).mean().item<double>();
  EXPECT_LT(mismatched, 0.01) << "fraction of elements differing from the reference";
}

// A 4-D input as q_norm/k_norm see it: [batch, seq, heads, head_dim] over the last dim.
TEST(CudaRMSNorm, PerHeadNormOnFourDimInput) {
  FUSEBOX_REQUIRE_CUDA();
  torch::manual_seed(7);
  model::RMSNorm norm(128, 1e-6);
  norm->to(cuda0());
  auto x = torch::randn({2, 5, 3, 128}).to(cuda0());
  auto ref = norm->reference_forward(x);
  kernels::apply_kernel("cuda_fused_rmsnorm", *norm, cuda_options());
  EXPECT_TRUE(all_close(norm(x), ref, tolerance(torch::kFloat32, Quantity::kOutput), "y"));
}

// What the kernel does not take runs the reference: CPU tensors, mixed dtypes.
TEST(CudaRMSNorm, FallsBackToTheReference) {
  FUSEBOX_REQUIRE_CUDA();
  torch::manual_seed(3);
  model::RMSNorm norm(64, 1e-6);
  kernels::apply_kernel("cuda_fused_rmsnorm", *norm, cuda_options());
  auto x = torch::randn({4, 64});
  EXPECT_TRUE(torch::equal(norm(x), norm->reference_forward(x))) << "CPU tensors";
  norm->to(cuda0());  // fp32 weight, bf16 activations: the reference promotes
  auto xb = x.to(cuda0(), torch::kBFloat16);
  auto y = norm(xb);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(y, norm->reference_forward(xb))) << "mixed dtypes";
}

TEST(CudaRMSNorm, WrongHiddenSizeIsAClearError) {
  FUSEBOX_REQUIRE_CUDA();
  model::RMSNorm norm(1024, 1e-6);
  norm->to(cuda0());
  kernels::apply_kernel("cuda_fused_rmsnorm", *norm, cuda_options());
  try {
    norm(torch::randn({2, 7, 1000}).to(cuda0()));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected the input's last dim to match the weight's "
                                         "size 1024, got 1000 (input [2, 7, 1000])"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace fusebox::test
