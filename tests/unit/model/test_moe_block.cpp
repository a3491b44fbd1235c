// Qwen3MoeSparseMoeBlock's reference forward (transformers' per-expert loop) against a
// straightforward dense computation written from the math: every token goes through every
// expert, and the outputs are mixed by a [tokens, experts] routing matrix that holds the
// top-k weights and zeros elsewhere. Outputs and all gradients must agree in fp32.
#include <gtest/gtest.h>

#include <tuple>

#include "model/moe.h"
#include "moe_test_util.h"
#include "support/assert_close.h"

namespace fusebox::test {
namespace {

torch::Tensor expert_by_hand(const model::Qwen3MLPImpl& e, const torch::Tensor& x) {
  auto gate = x.matmul(e.gate_proj->weight.t());
  auto up = x.matmul(e.up_proj->weight.t());
  return (torch::silu(gate) * up).matmul(e.down_proj->weight.t());
}

// The dense formulation. Top-k by a full descending sort, not torch::topk.
torch::Tensor dense_moe(const model::Qwen3MoeSparseMoeBlockImpl& block, const torch::Tensor& x) {
  auto h = x.size(-1);
  auto tokens = x.reshape({-1, h});
  auto probs = torch::softmax(tokens.matmul(block.gate->weight.t()).to(torch::kFloat32), -1);
  auto sorted = probs.sort(/*dim=*/-1, /*descending=*/true);
  auto values = std::get<0>(sorted).slice(1, 0, block.top_k());
  auto ids = std::get<1>(sorted).slice(1, 0, block.top_k());
  if (block.norm_topk_prob()) values = values / values.sum(-1, true);
  auto routing = torch::zeros_like(probs).scatter(1, ids, values).to(x.scalar_type());
  auto out = torch::zeros_like(tokens);
  for (int64_t e = 0; e < block.num_experts(); ++e)
    out = out + routing.slice(1, e, e + 1) * expert_by_hand(block.expert(e), tokens);
  return out.reshape(x.sizes());
}

struct Grads {
  torch::Tensor out, input;
  std::vector<std::pair<std::string, torch::Tensor>> params;
};

// Runs `fn` on a fresh leaf copy of x and backpropagates a fixed random projection of the
// output, so every output element's gradient path is exercised.
template <typename Fn>
Grads run(model::Qwen3MoeSparseMoeBlock& block, const torch::Tensor& x, const torch::Tensor& dy,
          Fn fn) {
  block->zero_grad();
  for (auto& p : block->parameters())
    p.mutable_grad() = torch::Tensor();
  auto leaf = x.detach().clone().requires_grad_(true);
  auto out = fn(leaf);
  (out * dy).sum().backward();
  Grads g{out.detach(), leaf.grad().clone(), {}};
  for (const auto& p : block->named_parameters())
    g.params.emplace_back(p.key(), p.value().grad().defined() ? p.value().grad().clone()
                                                              : torch::zeros_like(p.value()));
  return g;
}

void expect_reference_matches_dense(model::Qwen3MoeSparseMoeBlock& block, const torch::Tensor& x) {
  auto dy = torch::randn(x.sizes());
  auto ref = run(block, x, dy, [&](const torch::Tensor& in) {
    return std::get<0>(block->reference_forward(in));
  });
  auto dense = run(block, x, dy, [&](const torch::Tensor& in) { return dense_moe(*block, in); });
  int64_t tokens = x.numel() / x.size(-1);
  EXPECT_TRUE(all_close(ref.out, dense.out, tolerance(torch::kFloat32, Quantity::kOutput), "out"));
  EXPECT_TRUE(all_close(ref.input, dense.input, tolerance(torch::kFloat32, Quantity::kInputGrad),
                        "d input"));
  ASSERT_EQ(ref.params.size(), dense.params.size());
  for (size_t i = 0; i < ref.params.size(); ++i) {
    EXPECT_TRUE(all_close(ref.params[i].second, dense.params[i].second,
                          tolerance(torch::kFloat32, Quantity::kReducedGrad, tokens),
                          "d " + ref.params[i].first));
  }
}

struct RoutingCase {
  int64_t num_experts, top_k;
  bool norm_topk_prob;
};

class MoeBlockReference : public ::testing::TestWithParam<RoutingCase> {};

TEST_P(MoeBlockReference, MatchesDenseComputationFp32) {
  auto p = GetParam();
  torch::manual_seed(7);
  model::Qwen3MoeSparseMoeBlock block(small_moe_config(p.num_experts, p.top_k, p.norm_topk_prob));
  // Router weights larger than init so the routing is decisive (no near-ties in top-k).
  {
    torch::NoGradGuard no_grad;
    block->gate->weight.normal_(0.0, 0.5);
  }
  expect_reference_matches_dense(block, torch::randn({3, 7, 24}));
}

INSTANTIATE_TEST_SUITE_P(MoeRouting, MoeBlockReference,
                         ::testing::Values(RoutingCase{6, 2, true}, RoutingCase{6, 2, false},
                                           RoutingCase{6, 1, true}, RoutingCase{6, 1, false},
                                           RoutingCase{6, 6, true}, RoutingCase{6, 6, false}),
                         [](const auto& info) {
                           return "top" + std::to_string(info.param.top_k) + "_of" +
                                  std::to_string(info.param.num_experts) +
                                  (info.param.norm_topk_prob ? "_norm" : "");
                         });

TEST(MoeBlockReference, AnExpertWithNoTokensIsSkippedAndGetsNoGradient) {
  torch::manual_seed(8);
  model::Qwen3MoeSparseMoeBlock block(small_moe_config(6, 2, true));
  auto x = torch::randn({2, 5, 24}).abs();  // positive inputs ...
  {
    torch::NoGradGuard no_grad;
    block->gate->weight.abs_();
    block->gate->weight[3].neg_();  // ... so expert 3's logit is the only negative one
  }
  auto [out, logits] = block->reference_forward(x);
  ASSERT_TRUE(logits.argmin(-1).eq(3).all().item<bool>()) << "expert 3 must never be picked";
  out.sum().backward();
  for (const auto& p : block->expert(3).parameters())
    EXPECT_FALSE(p.grad().defined()) << "expert 3 ran although no token chose it";
  EXPECT_TRUE(block->expert(0).gate_proj->weight.grad().defined());
  expect_reference_matches_dense(block, x);
}

TEST(MoeBlockReference, ReturnsTheRawRouterLogitsWithTheirGradientPath) {
  torch::manual_seed(9);
  model::Qwen3MoeSparseMoeBlock block(small_moe_config(5, 2, false));
  auto x = torch::randn({2, 3, 24});
  auto [out, logits] = block->forward(x);
  EXPECT_EQ(out.sizes(), x.sizes());
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{6, 5}));
  auto expected = x.reshape({6, 24}).matmul(block->gate->weight.t());
  EXPECT_TRUE(all_close(logits, expected, tolerance(torch::kFloat32, Quantity::kOutput), "logits"));
  logits.sum().backward();
  EXPECT_TRUE(block->gate->weight.grad().defined());
}

TEST(MoeBlockReference, AcceptsANonContiguousInput) {
  torch::manual_seed(10);
  model::Qwen3MoeSparseMoeBlock block(small_moe_config(6, 2, true));
  auto x = torch::randn({7, 3, 24}).transpose(0, 1);  // [3, 7, 24], not contiguous
  ASSERT_FALSE(x.is_contiguous());
  expect_reference_matches_dense(block, x);
}

TEST(MoeBlockReference, RoutingWeightsAreCastToTheActivationDtype) {
  auto logits = torch::tensor({{2.0, 1.0, 0.0, -1.0}}).to(torch::kBFloat16);
  auto r = model::route_top_k(logits, 2, true, torch::kBFloat16);
  EXPECT_EQ(r.weights.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(r.experts.scalar_type(), torch::kInt64);
  EXPECT_EQ(r.experts[0][0].item<int64_t>(), 0);
  EXPECT_EQ(r.experts[0][1].item<int64_t>(), 1);
  // Renormalised in fp32 before the cast: e^1 / (e^1 + e^0) = 0.7311 rounds to bf16 0.73047.
  EXPECT_FLOAT_EQ(r.weights[0][0].item<float>(), 0.73046875f);
}

TEST(MoeBlockReference, IsKernelizableAsMoE) {
  model::Qwen3MoeSparseMoeBlock block(small_moe_config());
  EXPECT_STREQ(block->layer_name(), "MoE");
  EXPECT_STREQ(block->expert(0).layer_name(), "MLP");  // experts take MLP kernels themselves
}

}  // namespace
}  // namespace fusebox::test
