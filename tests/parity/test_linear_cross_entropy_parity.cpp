// cpu_fused_linear_cross_entropy vs the LMHeadLoss reference (linear + causal_lm_loss): loss,
// dhidden and dweight, fp32/bf16, odd vocab/hidden/token counts, chunks that cut across
// sequences, ignored labels (down to a batch with nothing to learn), non-contiguous hidden,
// every element (tolerances from support/tolerances.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "kernels/api.h"
#include "model/lm_head_loss.h"
#include "model/loss.h"
#include "ops/linear_cross_entropy/cpu_fused_linear_cross_entropy.h"
#include "support/assert_close.h"
#include "support/kernel_devices.h"

namespace fusebox::test {
namespace {

enum class Labels { kSomeIgnored, kAllIgnored };

struct Case {
  torch::ScalarType dtype;
  int64_t batch, seq, hidden, vocab;
  int64_t chunk_rows;  // 0: the kernel's default
  bool contiguous;
  Labels labels;
  double normalizer;  // 0: the batch's label-token count
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return std::string(c10::toString(c.dtype)) + "_b" + std::to_string(c.batch) + "s" +
         std::to_string(c.seq) + "h" + std::to_string(c.hidden) + "v" + std::to_string(c.vocab) +
         "_chunk" + std::to_string(c.chunk_rows) + (c.contiguous ? "" : "_noncontig") +
         (c.labels == Labels::kAllIgnored ? "_allignored" : "") +
         (c.normalizer > 0 ? "_norm" + std::to_string(static_cast<int>(c.normalizer)) : "");
}

struct Result {
  torch::Tensor loss, dhidden, dweight;
};

// hidden [B, S, H] in the requested layout, drawn ~N(0, 1).
torch::Tensor make_hidden(const Case& c) {
  auto opts = torch::TensorOptions().dtype(c.dtype);
  if (c.contiguous) return torch::randn({c.batch, c.seq, c.hidden}, opts);
  return torch::randn({c.batch, c.hidden, c.seq}, opts).transpose(1, 2);
}

torch::Tensor make_labels(const Case& c) {
  auto labels = torch::randint(0, c.vocab, {c.batch, c.seq}, torch::kInt64);
  if (c.labels == Labels::kAllIgnored) return labels.fill_(model::kIgnoreIndex);
  // A masked prompt on the first sequence and scattered ignored tokens elsewhere.
  labels.index_put_({0, torch::indexing::Slice(0, c.seq / 3)}, model::kIgnoreIndex);
  return labels.masked_fill(torch::rand({c.batch, c.seq}).lt(0.2), model::kIgnoreIndex);
}

template <typename LossFn>
Result run(const torch::Tensor& hidden, const torch::Tensor& weight, LossFn loss_fn) {
  auto h = hidden.detach().clone().requires_grad_(true);
  auto w = weight.detach().clone().requires_grad_(true);
  auto loss = loss_fn(h, w);
  loss.backward();
  return {loss.detach(), h.grad(), w.grad()};
}

class LinearCrossEntropyParity : public ::testing::TestWithParam<Case> {};

TEST_P(LinearCrossEntropyParity, LossAndGradientsMatchReference) {
  const Case c = GetParam();
  torch::manual_seed(4321 + c.vocab * 3 + c.hidden + c.seq);
  // A non-contiguous hidden keeps its strides through clone(), so the kernel sees them too.
  auto hidden = make_hidden(c);
  ASSERT_EQ(hidden.is_contiguous(), c.contiguous);
  auto weight = (torch::randn({c.vocab, c.hidden}) / std::sqrt(double(c.hidden))).to(c.dtype);
  auto labels = make_labels(c);

  auto ref = run(hidden, weight, [&](const auto& h, const auto& w) {
    return model::lm_head_loss_reference(h, w, labels, c.normalizer);
  });
  Result fused;
  if (c.chunk_rows == 0) {  // through a real layer and the registry
    model::LMHeadLoss layer;
    auto report = kernels::apply_kernel("cpu_fused_linear_cross_entropy", *layer, cpu_options());
    ASSERT_EQ(report.count("cpu_fused_linear_cross_entropy"), 1);
    fused = run(hidden, weight,
                [&](const auto& h, const auto& w) { return layer(h, w, labels, c.normalizer); });
  } else {
    fused = run(hidden, weight, [&](const auto& h, const auto& w) {
      return ops::cpu_linear_cross_entropy(h, w, labels, c.normalizer, c.chunk_rows);
    });
  }

  ASSERT_EQ(fused.loss.scalar_type(), torch::kFloat32);
  ASSERT_EQ(fused.loss.dim(), 0);
  ASSERT_TRUE(std::isfinite(ref.loss.item<double>())) << "the reference itself gave NaN";
  if (c.labels == Labels::kAllIgnored) {  // nothing to learn: the reference gives 0, not NaN
    EXPECT_EQ(ref.loss.item<double>(), 0.0);
    EXPECT_EQ(fused.loss.item<double>(), 0.0);
  }
  EXPECT_TRUE(all_close(fused.loss, ref.loss, tolerance(c.dtype, Quantity::kOutput), "loss"));
  EXPECT_EQ(fused.dhidden.scalar_type(), c.dtype);
  EXPECT_EQ(fused.dweight.scalar_type(), c.dtype);
  EXPECT_TRUE(
      all_close(fused.dhidden, ref.dhidden, tolerance(c.dtype, Quantity::kInputGrad), "dhidden"));
  // dW sums one outer product per token.
  EXPECT_TRUE(all_close(fused.dweight, ref.dweight,
                        tolerance(c.dtype, Quantity::kReducedGrad, c.batch * c.seq), "dweight"));
}

constexpr auto kF32 = torch::kFloat32;
constexpr auto kBF16 = torch::kBFloat16;
constexpr auto kSome = Labels::kSomeIgnored;

INSTANTIATE_TEST_SUITE_P(
    OddSizes, LinearCrossEntropyParity,
    ::testing::Values(
        // dtype, batch, seq, hidden, vocab, chunk rows, contiguous, labels, normalizer
        Case{kF32, 1, 1, 5, 7, 0, true, kSome, 0},   // one token: nothing to predict
        Case{kF32, 1, 13, 5, 1, 4, true, kSome, 0},  // vocab 1: loss 0, gradients 0
        Case{kF32, 1, 13, 64, 7, 4, true, kSome, 0}, Case{kF32, 1, 13, 5, 1001, 0, false, kSome, 0},
        Case{kF32, 3, 100, 64, 1001, 64, true, kSome, 0},  // chunks cut across sequences
        Case{kF32, 3, 100, 5, 1001, 7, false, kSome, 123},
        Case{kF32, 2, 150, 64, 1001, 0, true, kSome, 0},
        Case{kF32, 3, 100, 64, 7, 16, true, Labels::kAllIgnored, 0},
        Case{kF32, 3, 100, 64, 7, 16, true, Labels::kAllIgnored, 50},
        Case{kBF16, 1, 1, 5, 7, 0, true, kSome, 0}, Case{kBF16, 1, 13, 5, 1, 4, true, kSome, 0},
        Case{kBF16, 1, 13, 64, 7, 4, false, kSome, 0},
        Case{kBF16, 3, 100, 64, 1001, 64, true, kSome, 0},
        Case{kBF16, 3, 100, 5, 1001, 7, false, kSome, 123},
        Case{kBF16, 2, 150, 64, 1001, 0, true, kSome, 0},
        Case{kBF16, 3, 100, 64, 7, 16, true, Labels::kAllIgnored, 0}),
    case_name);

TEST(LinearCrossEntropy, OnlyTheRequestedGradientsAndNoGradMode) {
  torch::manual_seed(5);
  auto hidden = torch::randn({2, 9, 16});
  auto weight = torch::randn({33, 16}).requires_grad_(true);
  auto labels = torch::randint(0, 33, {2, 9}, torch::kInt64);
  auto ref = model::lm_head_loss_reference(hidden, weight, labels, 0);
  auto loss = ops::cpu_linear_cross_entropy(hidden, weight, labels, 0, 5);
  loss.backward();
  EXPECT_FALSE(hidden.grad().defined());
  EXPECT_TRUE(all_close(loss, ref, tolerance(kF32, Quantity::kOutput), "loss"));
  torch::NoGradGuard no_grad;
  auto inference = ops::cpu_linear_cross_entropy(hidden, weight, labels, 0, 5);
  EXPECT_FALSE(inference.requires_grad());
  EXPECT_TRUE(all_close(inference, ref, tolerance(kF32, Quantity::kOutput), "no-grad loss"));
}

TEST(LinearCrossEntropy, IncomingGradientScalesBothGradients) {
  torch::manual_seed(6);
  auto hidden = torch::randn({2, 9, 16});
  auto weight = torch::randn({33, 16});
  auto labels = torch::randint(0, 33, {2, 9}, torch::kInt64);
  auto scaled = [&](auto loss_fn) {
    return run(hidden, weight, [&](const auto& h, const auto& w) { return 2.5 * loss_fn(h, w); });
  };
  auto ref = scaled(
      [&](const auto& h, const auto& w) { return model::lm_head_loss_reference(h, w, labels, 0); });
  auto fused = scaled([&](const auto& h, const auto& w) {
    return ops::cpu_linear_cross_entropy(h, w, labels, 0, 5);
  });
  EXPECT_TRUE(all_close(fused.dhidden, ref.dhidden, tolerance(kF32, Quantity::kInputGrad), "dh"));
  EXPECT_TRUE(
      all_close(fused.dweight, ref.dweight, tolerance(kF32, Quantity::kReducedGrad, 18), "dw"));
}

TEST(LinearCrossEntropy, BadShapesSayWhatWasExpected) {
  auto hidden = torch::randn({2, 9, 16});
  auto labels = torch::zeros({2, 9}, torch::kInt64);
  try {
    ops::cpu_linear_cross_entropy(hidden, torch::randn({33, 15}), labels, 0);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("same H"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fusebox::test
