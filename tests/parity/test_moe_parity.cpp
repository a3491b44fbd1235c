// cpu_fused_moe vs the MoE block's reference forward (transformers' per-expert loop): the
// output, the router logits, dX, d(gate.weight) and every expert's weight gradients, fp32 and
// bf16, odd sizes, a non-contiguous input, every element (tolerances from
// support/tolerances.h). Routing corner cases: experts that get no token, one expert that gets
// every token, top-1, top-k = number of experts, norm_topk_prob on and off.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "kernels/api.h"
#include "model/moe.h"
#include "support/assert_close.h"
#include "support/kernel_devices.h"

namespace fusebox::test {
namespace {

// kStrided: the input is the first half of each row of a [1, tokens, 2 * hidden] buffer.
enum class Layout { kContiguous, kStrided };
enum class Router { kRandom, kOneExpertTakesAll };

struct Case {
  torch::ScalarType dtype;
  int64_t tokens;  // batch * seq; the input is [1, tokens, hidden]
  int64_t hidden;
  int64_t intermediate;
  int64_t experts;
  int64_t top_k;
  bool norm;
  Layout layout = Layout::kContiguous;
  Router router = Router::kRandom;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return std::string(c10::toString(c.dtype)) + "_t" + std::to_string(c.tokens) + "_h" +
         std::to_string(c.hidden) + "_i" + std::to_string(c.intermediate) + "_top" +
         std::to_string(c.top_k) + "of" + std::to_string(c.experts) + (c.norm ? "_norm" : "") +
         (c.layout == Layout::kStrided ? "_strided" : "") +
         (c.router == Router::kOneExpertTakesAll ? "_one_expert_takes_all" : "");
}

model::Qwen3Config moe_config(const Case& c) {
  model::Qwen3Config config;
  config.model_type = "qwen3_moe";
  config.hidden_size = c.hidden;
  config.num_experts = c.experts;
  config.num_experts_per_tok = c.top_k;
  config.moe_intermediate_size = c.intermediate;
  config.norm_topk_prob = c.norm;
  return config;
}

struct Grads {
  torch::Tensor out, logits, dx;
  std::vector<std::pair<std::string, torch::Tensor>> params;  // undefined: no gradient
};

// Backpropagates fixed random projections of both outputs, so every element of each has a
// gradient path (the logits' path to gate.weight included).
// `x` is the input buffer; for kStrided the block sees a non-contiguous view of it and dx is
// the gradient of the whole buffer (zero outside the view in both paths).
Grads run(model::Qwen3MoeSparseMoeBlock& block, const torch::Tensor& x, Layout layout,
          const torch::Tensor& dy, const torch::Tensor& dlogits, bool reference) {
  for (auto& p : block->parameters())
    p.mutable_grad() = torch::Tensor();
  auto leaf = x.detach().clone().requires_grad_(true);
  auto input = leaf;
  if (layout == Layout::kStrided) {
    input = leaf.slice(2, 0, leaf.size(2) / 2);
    EXPECT_FALSE(input.is_contiguous());
  }
  auto [out, logits] = reference ? block->reference_forward(input) : block->forward(input);
  ((out * dy).sum() + (logits * dlogits).sum()).backward();
  Grads g{out.detach(), logits.detach(), leaf.grad().clone(), {}};
  for (const auto& p : block->named_parameters()) {
    auto grad = p.value().grad();
    g.params.emplace_back(p.key(), grad.defined() ? grad.clone() : torch::Tensor());
  }
  return g;
}

void init_weights(model::Qwen3MoeSparseMoeBlock& block, const Case& c) {
  torch::NoGradGuard no_grad;
  // Weights ~ N(0, 1/fan_in): activations and gradients are O(1), as the table assumes. The
  // router is sharper (std 0.5) so that routing weights are far from uniform.
  for (auto& p : block->parameters())
    p.copy_(torch::randn(p.sizes()) / std::sqrt(static_cast<double>(p.size(1))));
  block->gate->weight.normal_(0.0, 0.5);
  if (c.router == Router::kOneExpertTakesAll) {
    // With positive inputs, a large positive row makes expert 2 everyone's first choice.
    block->gate->weight[2].abs_().add_(4.0);
  }
}

torch::Tensor make_input(const Case& c) {
  int64_t width = c.layout == Layout::kStrided ? 2 * c.hidden : c.hidden;
  auto x = torch::randn({1, c.tokens, width});
  if (c.router == Router::kOneExpertTakesAll) x = x.abs();
  return x.to(c.dtype);
}

class MoEParity : public ::testing::TestWithParam<Case> {};

TEST_P(MoEParity, ForwardAndGradientsMatchReference) {
  const Case c = GetParam();
  torch::manual_seed(1234 + c.tokens * 7 + c.hidden * 3 + c.experts + c.top_k);
  model::Qwen3MoeSparseMoeBlock block(moe_config(c));
  init_weights(block, c);
  block->to(c.dtype);
  auto x = make_input(c);
  auto dy = torch::randn({1, c.tokens, c.hidden}).to(c.dtype);
  auto dlogits = torch::randn({c.tokens, c.experts}).to(c.dtype);

  auto ref = run(block, x, c.layout, dy, dlogits, /*reference=*/true);
  auto report = kernels::apply_kernel("cpu_fused_moe", *block, cpu_options());
  ASSERT_EQ(report.count("cpu_fused_moe"), 1);
  auto k = run(block, x, c.layout, dy, dlogits, /*reference=*/false);

  if (c.router == Router::kOneExpertTakesAll) {
    auto chosen = model::route_top_k(ref.logits, c.top_k, c.norm, c.dtype).experts;
    ASSERT_TRUE(chosen.select(1, 0).eq(2).all().item<bool>()) << "expert 2 must take all";
  }
  EXPECT_EQ(k.out.scalar_type(), c.dtype);
  EXPECT_EQ(k.logits.scalar_type(), c.dtype);
  EXPECT_TRUE(all_close(k.out, ref.out, tolerance(c.dtype, Quantity::kOutput), "out"));
  EXPECT_TRUE(all_close(k.logits, ref.logits, tolerance(c.dtype, Quantity::kOutput), "logits"));
  EXPECT_TRUE(all_close(k.dx, ref.dx, tolerance(c.dtype, Quantity::kInputGrad), "dx"));
  auto reduced = tolerance(c.dtype, Quantity::kReducedGrad, c.tokens);
  ASSERT_EQ(k.params.size(), ref.params.size());
  for (size_t i = 0; i < k.params.size(); ++i) {
    const auto& [name, grad] = k.params[i];
    const auto& expected = ref.params[i].second;
    // An expert that no token chose runs in neither, so it gets no gradient in either.
    ASSERT_EQ(grad.defined(), expected.defined()) << name;
    if (expected.defined()) {
      EXPECT_TRUE(all_close(grad, expected, reduced, "d " + name));
    }
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (int64_t tokens : {1, 13, 37}) {
      cases.push_back({dtype, tokens, 7, 5, 4, 2, true});
      cases.push_back({dtype, tokens, 33, 24, 6, 2, false});
    }
    // top-1 of many experts: with 13 tokens some experts get none.
    cases.push_back({dtype, 13, 33, 24, 8, 1, true});
    cases.push_back({dtype, 13, 33, 24, 8, 1, false});
    // top-k = number of experts: every expert gets every token.
    cases.push_back({dtype, 37, 7, 5, 5, 5, true});
    cases.push_back({dtype, 37, 33, 24, 5, 5, false});
    cases.push_back({dtype, 37, 33, 24, 6, 3, true, Layout::kStrided});
    cases.push_back(
        {dtype, 37, 7, 5, 6, 1, false, Layout::kContiguous, Router::kOneExpertTakesAll});
    cases.push_back(
        {dtype, 37, 33, 24, 6, 2, true, Layout::kContiguous, Router::kOneExpertTakesAll});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(MoE, MoEParity, ::testing::ValuesIn(all_cases()), case_name);

// With one token and top-1 of 8 experts, seven experts get no token: the kernel must skip them
// (no gradient) exactly as the reference does.
TEST(MoEParityRouting, ExpertsWithNoTokenGetNoGradient) {
  torch::manual_seed(77);
  Case c{torch::kFloat32, 1, 7, 5, 8, 1, true};
  model::Qwen3MoeSparseMoeBlock block(moe_config(c));
  init_weights(block, c);
  kernels::apply_kernel("cpu_fused_moe", *block, cpu_options());
  auto [out, logits] = block->forward(torch::randn({1, 1, 7}));
  out.sum().backward();
  int64_t chosen = logits.argmax(-1).item<int64_t>();
  for (int64_t e = 0; e < c.experts; ++e) {
    EXPECT_EQ(block->expert(e).down_proj->weight.grad().defined(), e == chosen) << "expert " << e;
  }
}

TEST(MoEParityRouting, RejectsAWrongHiddenSize) {
  Case c{torch::kFloat32, 3, 7, 5, 4, 2, true};
  model::Qwen3MoeSparseMoeBlock block(moe_config(c));
  kernels::apply_kernel("cpu_fused_moe", *block, cpu_options());
  EXPECT_THROW(block->forward(torch::randn({1, 3, 8})), c10::Error);
}

}  // namespace
}  // namespace fusebox::test
