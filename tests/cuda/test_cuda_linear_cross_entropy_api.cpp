// cuda_linear_cross_entropy beyond single-pass parity (test_cuda_linear_cross_entropy.cpp):
// only the requested gradients are computed, no-grad mode gives the loss alone, an incoming
// gradient other than 1 scales both gradients, bad shapes and devices are rejected with a
// message that says what was expected, and the default chunk keeps logits under 256 MiB.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "model/lm_head_loss.h"
#include "ops/linear_cross_entropy/cuda_linear_cross_entropy.h"
#include "support/assert_close.h"
#include "support/cuda_test.h"
#include "support/kernel_devices.h"

namespace fusebox::test {
namespace {

constexpr auto kF32 = torch::kFloat32;

torch::Tensor cuda_randn(torch::IntArrayRef sizes) {
  return torch::randn(sizes, cuda0());
}

TEST(CudaLinearCrossEntropy, OnlyTheRequestedGradientsAndNoGradMode) {
  FUSEBOX_REQUIRE_CUDA();
  torch::manual_seed(5);
  auto hidden = cuda_randn({2, 9, 16});
  auto weight = cuda_randn({33, 16}).requires_grad_(true);
  auto labels = torch::randint(0, 33, {2, 9}, torch::kInt64).to(cuda0());
  auto ref = model::lm_head_loss_reference(hidden, weight, labels, 0);
  auto loss = ops::cuda_linear_cross_entropy(hidden, weight, labels, 0, 5);
  loss.backward();
  EXPECT_FALSE(hidden.grad().defined());
  EXPECT_TRUE(weight.grad().defined());
  EXPECT_TRUE(all_close(loss, ref, tolerance(kF32, Quantity::kOutput), "loss"));
  torch::NoGradGuard no_grad;
  auto inference = ops::cuda_linear_cross_entropy(hidden, weight, labels, 0, 5);
  EXPECT_FALSE(inference.requires_grad());
  EXPECT_TRUE(all_close(inference, ref, tolerance(kF32, Quantity::kOutput), "no-grad loss"));
}

TEST(CudaLinearCrossEntropy, IncomingGradientScalesBothGradients) {
  FUSEBOX_REQUIRE_CUDA();
  torch::manual_seed(6);
  auto hidden = cuda_randn({2, 9, 16});
  auto weight = cuda_randn({33, 16});
  auto labels = torch::randint(0, 33, {2, 9}, torch::kInt64).to(cuda0());
  auto scaled = [&](auto loss_fn) {
    auto h = hidden.clone().requires_grad_(true);
    auto w = weight.clone().requires_grad_(true);
    (2.5 * loss_fn(h, w)).backward();
    return std::make_pair(h.grad(), w.grad());
  };
  auto [ref_dh, ref_dw] = scaled(
      [&](const auto& h, const auto& w) { return model::lm_head_loss_reference(h, w, labels, 0); });
  auto [dh, dw] = scaled([&](const auto& h, const auto& w) {
    return ops::cuda_linear_cross_entropy(h, w, labels, 0, 5);
  });
  EXPECT_TRUE(all_close(dh, ref_dh, tolerance(kF32, Quantity::kInputGrad), "dh"));
  EXPECT_TRUE(all_close(dw, ref_dw, tolerance(kF32, Quantity::kReducedGrad, 18), "dw"));
}

// The message of the c10::Error `fn` throws, or a marker that no fragment matches.
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const c10::Error& e) {
    return e.what();
  }
  return "<no error thrown>";
}

TEST(CudaLinearCrossEntropy, BadInputsSayWhatWasExpected) {
  FUSEBOX_REQUIRE_CUDA();
  auto hidden = cuda_randn({2, 9, 16});
  auto labels = torch::zeros({2, 9}, torch::kInt64);
  auto message = error_of([&] {
    ops::cuda_linear_cross_entropy(hidden, cuda_randn({33, 15}), labels, 0);
  });
  EXPECT_NE(message.find("same H"), std::string::npos) << message;
  message = error_of([&] {
    ops::cuda_linear_cross_entropy(hidden, cuda_randn({33, 16}), torch::zeros({2, 8}), 0);
  });
  EXPECT_NE(message.find("expected labels [B, S]"), std::string::npos) << message;
  message = error_of([&] {
    ops::cuda_linear_cross_entropy(hidden, torch::randn({33, 16}), labels, 0);
  });
  EXPECT_NE(message.find("one CUDA device"), std::string::npos) << message;
  message = error_of([&] {
    ops::cuda_linear_cross_entropy(hidden.to(torch::kBFloat16), cuda_randn({33, 16}), labels, 0);
  });
  EXPECT_NE(message.find("one dtype"), std::string::npos) << message;
  message = error_of([&] {
    ops::cuda_linear_cross_entropy(hidden.to(torch::kFloat64),
                                   cuda_randn({33, 16}).to(torch::kFloat64), labels, 0);
  });
  EXPECT_NE(message.find("expected fp32, bf16 or fp16"), std::string::npos) << message;
}

TEST(CudaLinearCrossEntropy, DefaultChunksStayUnder256MiBAndBalanced) {
  constexpr int64_t kLimit = int64_t{256} << 20;
  // The benchmark's shape: 8192 tokens, a 151936 vocabulary, bf16.
  const int64_t rows = ops::cuda_linear_cross_entropy_chunk_rows(8192, 151936, torch::kBFloat16);
  EXPECT_LE(rows * 151936 * 2, kLimit);
  const int64_t chunks = (8192 + rows - 1) / rows;
  EXPECT_GT(8192 - (chunks - 1) * rows, rows / 2) << "the last chunk is a sliver";
  EXPECT_EQ(ops::cuda_linear_cross_entropy_chunk_rows(100, 1000, torch::kFloat32), 100);
  // A row larger than the limit still gets a chunk of one row.
  EXPECT_EQ(ops::cuda_linear_cross_entropy_chunk_rows(4, int64_t{1} << 27, torch::kFloat32), 1);
}

}  // namespace
}  // namespace fusebox::test
