// load_balancing_loss against a hand computation in double precision with plain loops.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "model/moe_aux_loss.h"

namespace fusebox::test {
namespace {

using Rows = std::vector<std::vector<double>>;

// E * sum_{j,e} f[j][e] * P[e] over the rows whose keep flag is set, where f[j][e] is the
// share of kept rows whose j-th largest probability is expert e and P[e] the mean probability.
double aux_by_hand(const Rows& logits, int64_t top_k, const std::vector<bool>& keep) {
  size_t experts = logits[0].size();
  std::vector<std::vector<double>> f(top_k, std::vector<double>(experts, 0.0));
  std::vector<double> p(experts, 0.0);
  double kept = 0;
  for (size_t r = 0; r < logits.size(); ++r) {
    if (!keep[r]) continue;
    kept += 1;
    double max = *std::max_element(logits[r].begin(), logits[r].end()), z = 0;
    std::vector<double> prob(experts);
    for (size_t e = 0; e < experts; ++e)
      z += prob[e] = std::exp(logits[r][e] - max);
    for (size_t e = 0; e < experts; ++e)
      p[e] += prob[e] /= z;
    std::vector<size_t> order(experts);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return prob[a] > prob[b]; });
    for (int64_t j = 0; j < top_k; ++j)
      f[j][order[j]] += 1;
  }
  double sum = 0;
  for (int64_t j = 0; j < top_k; ++j)
    for (size_t e = 0; e < experts; ++e)
      sum += (f[j][e] / kept) * (p[e] / kept);
  return sum * static_cast<double>(experts);
}

torch::Tensor to_tensor(const Rows& rows, size_t begin, size_t end) {
  std::vector<float> flat;
  for (size_t r = begin; r < end; ++r)
    flat.insert(flat.end(), rows[r].begin(), rows[r].end());
  return torch::tensor(flat).reshape({static_cast<int64_t>(end - begin), -1});
}

// Two sparse layers x 3 tokens x 4 experts, distinct values so top-k has no ties.
const Rows kLogits = {{0.3, -1.2, 2.0, 0.7},  {1.5, 0.1, -0.4, 0.9}, {-0.6, 0.8, 0.2, 1.9},
                      {2.2, -0.3, 0.5, -1.1}, {0.0, 1.3, 1.1, -0.2}, {0.4, 0.6, -2.0, 1.6}};

TEST(MoeAuxLoss, MatchesHandComputationOverAllLayersTogether) {
  std::vector<torch::Tensor> layers{to_tensor(kLogits, 0, 3), to_tensor(kLogits, 3, 6)};
  for (int64_t top_k : {1, 2, 4}) {
    double expected = aux_by_hand(kLogits, top_k, std::vector<bool>(6, true));
    auto loss = model::load_balancing_loss(layers, 4, top_k);
    EXPECT_EQ(loss.dim(), 0);
    EXPECT_EQ(loss.scalar_type(), torch::kFloat32);
    EXPECT_NEAR(loss.item<double>(), expected, 1e-6) << "top_k " << top_k;
  }
  // top_k == num_experts: every expert fills exactly one of each token's k slots, so
  // sum_j f[j][e] = 1 and the loss is E * sum_e P[e] = E.
  EXPECT_NEAR(model::load_balancing_loss(layers, 4, 4).item<double>(), 4.0, 1e-6);
}

TEST(MoeAuxLoss, AttentionMaskLeavesPaddingOutOfBothMeans) {
  // batch 1 x seq 3 per layer; the last token is padding in both layers.
  std::vector<torch::Tensor> layers{to_tensor(kLogits, 0, 3), to_tensor(kLogits, 3, 6)};
  auto mask = torch::tensor({1, 1, 0}, torch::kInt64).reshape({1, 3});
  double expected = aux_by_hand(kLogits, 2, {true, true, false, true, true, false});
  EXPECT_NEAR(model::load_balancing_loss(layers, 4, 2, mask).item<double>(), expected, 1e-6);
  auto all = torch::ones({1, 3}, torch::kInt64);
  EXPECT_NEAR(model::load_balancing_loss(layers, 4, 2, all).item<double>(),
              model::load_balancing_loss(layers, 4, 2).item<double>(), 1e-6);
}

TEST(MoeAuxLoss, GradientFlowsToTheLogits) {
  auto logits = to_tensor(kLogits, 0, 6).requires_grad_(true);
  auto loss = model::load_balancing_loss({logits}, 4, 2);
  loss.backward();
  ASSERT_TRUE(logits.grad().defined());
  EXPECT_GT(logits.grad().abs().sum().item<double>(), 0.0);
  // Each row's softmax is shift-invariant: its gradient sums to zero.
  EXPECT_LT(logits.grad().sum(-1).abs().max().item<double>(), 1e-6);
}

TEST(MoeAuxLoss, NoSparseLayerGivesZero) {
  EXPECT_EQ(model::load_balancing_loss({}, 8, 2).item<double>(), 0.0);
}

TEST(MoeAuxLoss, RejectsLogitsOfTheWrongWidth) {
  EXPECT_THROW(model::load_balancing_loss({torch::zeros({3, 5})}, 4, 2), c10::Error);
}

}  // namespace
}  // namespace fusebox::test
