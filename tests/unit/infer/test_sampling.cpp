// The sampler: greedy is argmax; top-k and top-p never pick outside their set; a seed
// reproduces the same draws; out-of-range options are errors naming the option.
#include <gtest/gtest.h>

#include <set>

#include "infer/sampling.h"
#include "util/error.h"

namespace fusebox::test {
namespace {

std::set<int64_t> draws(const infer::SamplingOptions& o, const torch::Tensor& logits, int n) {
  infer::Sampler sampler(o);
  std::set<int64_t> seen;
  for (int i = 0; i < n; ++i)
    seen.insert(sampler.next(logits));
  return seen;
}

TEST(Sampling, GreedyIsArgmax) {
  auto logits = torch::randn({50});
  infer::Sampler sampler({});
  EXPECT_EQ(sampler.next(logits), logits.argmax().item<int64_t>());
}

TEST(Sampling, TopKStaysInTheTopK) {
  torch::manual_seed(1);
  auto logits = torch::randn({40});
  auto top = std::get<1>(logits.topk(3));
  std::set<int64_t> allowed;
  for (int64_t i = 0; i < 3; ++i)
    allowed.insert(top[i].item<int64_t>());
  auto seen = draws({/*temperature=*/5.0, /*top_k=*/3, 1.0, 9}, logits, 300);
  EXPECT_EQ(seen, allowed);  // a high temperature reaches all three, never a fourth
}

TEST(Sampling, TopPKeepsTheSmallestSetReachingP) {
  // Probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.7 keeps the first two (0.5 < 0.7 <= 0.8).
  auto logits = torch::tensor({0.5, 0.3, 0.15, 0.05}).log().to(torch::kFloat32);
  auto seen = draws({1.0, 0, 0.7, 3}, logits, 300);
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1}));
  // A tiny top_p keeps the most likely token only.
  EXPECT_EQ(draws({1.0, 0, 1e-6, 3}, logits, 50), (std::set<int64_t>{0}));
}

TEST(Sampling, SeedReproduces) {
  auto logits = torch::randn({100});
  infer::Sampler a({1.0, 0, 1.0, 42}), b({1.0, 0, 1.0, 42});
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(a.next(logits), b.next(logits));
}

TEST(Sampling, RejectsOutOfRangeOptions) {
  EXPECT_THROW(infer::Sampler({-1.0, 0, 1.0, 0}), ConfigError);
  EXPECT_THROW(infer::Sampler({1.0, -2, 1.0, 0}), ConfigError);
  EXPECT_THROW(infer::Sampler({1.0, 0, 0.0, 0}), ConfigError);
  EXPECT_THROW(infer::Sampler({1.0, 0, 1.5, 0}), ConfigError);
}

}  // namespace
}  // namespace fusebox::test
