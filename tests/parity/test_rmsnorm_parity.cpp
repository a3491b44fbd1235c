// cpu_fused_rmsnorm vs the reference RMSNorm: forward, dX and dW, fp32/bf16/fp16, odd hidden
// sizes, non-contiguous inputs, every element (tolerances from support/tolerances.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <tuple>

#include "kernels/api.h"
#include "model/rmsnorm.h"
#include "support/assert_close.h"
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

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  std::string layout = c.layout == Layout::kContiguous   ? "contig"
                       : c.layout == Layout::kTransposed ? "transposed"
                                                         : "strided";
  return std::string(c10::toString(c.dtype)) + "_" + std::to_string(c.rows) + "x" +
         std::to_string(c.hidden) + "_" + layout;
}

// A fresh random input of shape [rows, hidden] in the requested layout.
torch::Tensor make_input(const Case& c) {
  auto opts = torch::TensorOptions().dtype(c.dtype);
  switch (c.layout) {
    case Layout::kContiguous:
      return torch::randn({c.rows, c.hidden}, opts);
    case Layout::kTransposed:
      return torch::randn({c.hidden, c.rows}, opts).t();
    case Layout::kStrided:
      return torch::randn({c.rows, 2 * c.hidden}, opts).slice(1, 0, 2 * c.hidden, 2);
  }
  return {};
}

class RMSNormParity : public ::testing::TestWithParam<Case> {};

TEST_P(RMSNormParity, ForwardAndGradientsMatchReference) {
  const Case c = GetParam();
  torch::manual_seed(1234 + c.rows * 7 + c.hidden);
  const double eps = 1e-6;
  auto x = make_input(c);
  if (c.layout != Layout::kContiguous) {
    ASSERT_FALSE(x.is_contiguous());
  }
  auto weight = (1.0 + 0.5 * torch::randn({c.hidden})).to(c.dtype);
  auto dy = torch::randn({c.rows, c.hidden}).to(c.dtype);

  // Reference.
  auto x_ref = x.detach().clone().requires_grad_(true);
  auto w_ref = weight.detach().clone().requires_grad_(true);
  auto y_ref = model::rmsnorm_reference(x_ref, w_ref, eps);
  y_ref.backward(dy);

  // Kernel, installed through the public API into a real layer.
  model::RMSNorm norm(c.hidden, eps);
  norm->to(c.dtype);
  {
    torch::NoGradGuard no_grad;
    norm->weight.copy_(weight);
  }
  auto report = kernels::apply_kernel("cpu_fused_rmsnorm", *norm, cpu_options());
  ASSERT_EQ(report.count("cpu_fused_rmsnorm"), 1);
  auto x_k = x.detach().clone().requires_grad_(true);
  auto y_k = norm(x_k);
  y_k.backward(dy);

  EXPECT_EQ(y_k.scalar_type(), c.dtype);
  EXPECT_TRUE(all_close(y_k, y_ref, tolerance(c.dtype, Quantity::kOutput), "y"));
  EXPECT_TRUE(all_close(x_k.grad(), x_ref.grad(), tolerance(c.dtype, Quantity::kInputGrad), "dx"));
  EXPECT_TRUE(all_close(norm->weight.grad(), w_ref.grad(),
                        tolerance(c.dtype, Quantity::kReducedGrad, c.rows), "dw"));
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kHalf}) {
    for (int64_t hidden : {1, 7, 111, 1000, 4096})
      cases.push_back({dtype, 37, hidden, Layout::kContiguous});
    cases.push_back({dtype, 1, 128, Layout::kContiguous});
    cases.push_back({dtype, 513, 64, Layout::kContiguous});  // more rows than threads x grain
    cases.push_back({dtype, 19, 111, Layout::kTransposed});
    cases.push_back({dtype, 23, 96, Layout::kStrided});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllDtypesAndShapes, RMSNormParity, ::testing::ValuesIn(all_cases()),
                         case_name);

// A 4-D input as q_norm/k_norm see it: [batch, seq, heads, head_dim], normalised over the last.
TEST(RMSNormParityShapes, PerHeadNormOnFourDimInput) {
  torch::manual_seed(7);
  model::RMSNorm norm(32, 1e-6);
  {
    torch::NoGradGuard no_grad;
    norm->weight.copy_(torch::randn({32}));
  }
  auto x = torch::randn({2, 5, 3, 32});
  auto ref = norm->reference_forward(x);
  kernels::apply_kernel("cpu_fused_rmsnorm", *norm, cpu_options());
  EXPECT_TRUE(all_close(norm(x), ref, tolerance(torch::kFloat32, Quantity::kOutput), "y"));
}

// The bf16 forward reproduces the reference's two roundings, so it is bit-exact except where
// fp32 rsqrt and 1/sqrt differ by an ulp and flip a rounding.
TEST(RMSNormParityShapes, Bf16ForwardIsNearlyBitExact) {
  torch::manual_seed(11);
  model::RMSNorm norm(1000, 1e-6);
  norm->to(torch::kBFloat16);
  auto x = torch::randn({64, 1000}).to(torch::kBFloat16);
  auto ref = norm->reference_forward(x);
  kernels::apply_kernel("cpu_fused_rmsnorm", *norm, cpu_options());
  auto y = norm(x);
  double mismatched = y.ne(ref).to(torch::kFloat64).mean().item<double>();
  EXPECT_LT(mismatched, 0.01) << "fraction of elements differing from the reference";
}

}  // namespace
}  // namespace fusebox::test
