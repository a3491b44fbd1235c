// cuda_fused_linear_cross_entropy vs the LMHeadLoss reference (linear + causal_lm_loss) on the
// same GPU: loss, dhidden and dweight, fp32/bf16/fp16, every element (tolerances from
// support/tolerances.h); fp32 also against the reference on the CPU. The kernel chunks tokens,
// so the cases have token counts that are not a multiple of the chunk (300 rows in chunks of
// 64 or 7), chunks that cut across sequences, one chunk, and many. Inside a row the kernel
// walks the vocabulary in strides of 16-byte packs x threads: vocabularies that are not a
// multiple of either (1, 7, 1001, 70001) take the element-wise path, 1024 and 65544 the packed
// one, and 65544 / 70001 the widest blocks. Ignored labels (down to a batch with nothing to
// learn), a given normaliser, non-contiguous hidden.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "kernels/api.h"
#include "model/lm_head_loss.h"
#include "model/loss.h"
#include "ops/linear_cross_entropy/cuda_linear_cross_entropy.h"
#include "support/assert_close.h"
#include "support/cuda_test.h"
#include "support/kernel_devices.h"

namespace fusebox::test {
namespace {

enum class Labels { kSomeIgnored, kAllIgnored };

struct Case {
  torch::ScalarType dtype;
  int64_t batch, seq, hidden, vocab;
  int64_t chunk_rows;  // 0: the kernel's default, through a real layer and the registry
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

// fp32 on the CPU, ~N(0, 1); the layout is kept by .to() and clone().
torch::Tensor make_hidden(const Case& c) {
  if (c.contiguous) return torch::randn({c.batch, c.seq, c.hidden});
  return torch::randn({c.batch, c.hidden, c.seq}).transpose(1, 2);
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

void expect_close(const Result& fused, const Result& ref, const Case& c,
                  const std::string& against) {
  EXPECT_TRUE(
      all_close(fused.loss, ref.loss, tolerance(c.dtype, Quantity::kOutput), "loss" + against));
  EXPECT_TRUE(all_close(fused.dhidden, ref.dhidden, tolerance(c.dtype, Quantity::kInputGrad),
                        "dhidden" + against));
  // dW sums one outer product per token.
  EXPECT_TRUE(all_close(fused.dweight, ref.dweight,
                        tolerance(c.dtype, Quantity::kReducedGrad, c.batch * c.seq),
                        "dweight" + against));
}

class CudaLinearCrossEntropyParity : public ::testing::TestWithParam<Case> {};

TEST_P(CudaLinearCrossEntropyParity, LossAndGradientsMatchReference) {
  FUSEBOX_REQUIRE_CUDA();
  const Case c = GetParam();
  torch::manual_seed(4321 + c.vocab * 3 + c.hidden + c.seq);
  auto hidden_cpu = make_hidden(c);
  auto weight_cpu = torch::randn({c.vocab, c.hidden}) / std::sqrt(double(c.hidden));
  auto labels = make_labels(c);
  auto hidden = hidden_cpu.to(cuda0(), c.dtype);
  auto weight = weight_cpu.to(cuda0(), c.dtype);
  ASSERT_EQ(hidden.is_contiguous(), c.contiguous);
  auto labels_gpu = labels.to(cuda0());

  auto ref = run(hidden, weight, [&](const auto& h, const auto& w) {
    return model::lm_head_loss_reference(h, w, labels_gpu, c.normalizer);
  });
  Result fused;
  if (c.chunk_rows == 0) {
    model::LMHeadLoss layer;
    auto report = kernels::apply_kernel("cuda_fused_linear_cross_entropy", *layer, cuda_options());
    ASSERT_EQ(report.count("cuda_fused_linear_cross_entropy"), 1);
    fused = run(hidden, weight,
                [&](const auto& h, const auto& w) { return layer(h, w, labels, c.normalizer); });
  } else {
    fused = run(hidden, weight, [&](const auto& h, const auto& w) {
      return ops::cuda_linear_cross_entropy(h, w, labels_gpu, c.normalizer, c.chunk_rows);
    });
  }

  ASSERT_TRUE(fused.loss.is_cuda());
  ASSERT_EQ(fused.loss.scalar_type(), torch::kFloat32);
  ASSERT_EQ(fused.loss.dim(), 0);
  ASSERT_TRUE(std::isfinite(ref.loss.item<double>())) << "the reference itself gave NaN";
  if (c.labels == Labels::kAllIgnored) {  // nothing to learn: the reference gives 0, not NaN
    EXPECT_EQ(ref.loss.item<double>(), 0.0);
    EXPECT_EQ(fused.loss.item<double>(), 0.0);
  }
  EXPECT_EQ(fused.dhidden.scalar_type(), c.dtype);
  EXPECT_EQ(fused.dweight.scalar_type(), c.dtype);
  expect_close(fused, ref, c, "");
  if (c.dtype == torch::kFloat32) {
    auto cpu = run(hidden_cpu, weight_cpu, [&](const auto& h, const auto& w) {
      return model::lm_head_loss_reference(h, w, labels, c.normalizer);
    });
    expect_close(fused, cpu, c, " vs CPU");
  }
}

constexpr auto kF32 = torch::kFloat32;
constexpr auto kBF16 = torch::kBFloat16;
constexpr auto kF16 = torch::kHalf;
constexpr auto kSome = Labels::kSomeIgnored;
constexpr auto kNone = Labels::kAllIgnored;

std::vector<Case> all_cases() {
  std::vector<Case> cases = {
      // dtype, batch, seq, hidden, vocab, chunk rows, contiguous, labels, normalizer
      {kF32, 1, 1, 5, 7, 0, true, kSome, 0},   // one token: nothing to predict
      {kF32, 1, 13, 5, 1, 4, true, kSome, 0},  // vocab 1: loss 0, gradients 0
      {kF32, 3, 100, 5, 1001, 7, false, kSome, 123}, {kF32, 2, 150, 64, 1001, 0, true, kSome, 0},
      {kF32, 2, 9, 32, 70001, 5, true, kSome, 0},    {kF32, 3, 100, 64, 7, 16, true, kNone, 50},
  };
  for (auto dtype : {kF32, kBF16, kF16}) {
    cases.push_back({dtype, 1, 13, 64, 7, 4, false, kSome, 0});
    cases.push_back({dtype, 3, 100, 64, 1001, 64, true, kSome, 0});  // chunks cut sequences
    cases.push_back({dtype, 3, 100, 64, 1024, 64, false, kSome, 0});
    cases.push_back({dtype, 2, 150, 64, 1024, 0, true, kSome, 0});  // one chunk, registry
    cases.push_back({dtype, 2, 9, 32, 65544, 0, true, kSome, 0});
    cases.push_back({dtype, 3, 100, 64, 7, 16, true, kNone, 0});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(OddSizes, CudaLinearCrossEntropyParity, ::testing::ValuesIn(all_cases()),
                         case_name);

}  // namespace
}  // namespace fusebox::test
