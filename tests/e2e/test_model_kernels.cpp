// Whole-model parity: logits, loss and every parameter gradient of a Qwen3 model with kernels
// on (auto) agree with the reference forwards (kernels off).
#include <gtest/gtest.h>

#include "kernels/api.h"
#include "model/qwen3.h"
#include "support/assert_close.h"

namespace fusebox::test {
namespace {

model::Qwen3Config small_config(bool tied) {
  model::Qwen3Config c;
  c.vocab_size = 97;
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;  // GQA ratio 3
  c.head_dim = 16;            // != hidden / heads
  c.tie_word_embeddings = tied;
  return c;
}

struct Outputs {
  torch::Tensor logits, loss;
  std::vector<std::pair<std::string, torch::Tensor>> grads;
};

Outputs run(model::Qwen3ForCausalLM& model, const torch::Tensor& ids, const torch::Tensor& labels) {
  model->zero_grad();
  auto out = model->forward(ids, labels);
  out.loss.backward();
  // With the fused loss head the forward with labels returns no logits: they come from a
  // label-free forward, which runs every other kernel the same way.
  torch::NoGradGuard no_grad;
  Outputs o{model->forward(ids).logits, out.loss.detach(), {}};
  for (const auto& p : model->named_parameters())
    o.grads.emplace_back(p.key(), p.value().grad().clone());
  return o;
}

void expect_same(const Outputs& k, const Outputs& ref, torch::ScalarType dtype) {
  // Logits pass through every layer: an output-level tolerance, loosened for bf16 by depth.
  EXPECT_TRUE(all_close(k.logits, ref.logits, tolerance(dtype, Quantity::kInputGrad), "logits"));
  EXPECT_TRUE(all_close(k.loss, ref.loss, tolerance(dtype, Quantity::kOutput), "loss"));
  ASSERT_EQ(k.grads.size(), ref.grads.size());
  for (size_t i = 0; i < k.grads.size(); ++i) {
    // Weight gradients are reductions over batch x sequence rows.
    EXPECT_TRUE(all_close(k.grads[i].second, ref.grads[i].second,
                          tolerance(dtype, Quantity::kReducedGrad, 2 * 13), k.grads[i].first));
  }
}

class WholeModelParity : public ::testing::TestWithParam<bool> {};

TEST_P(WholeModelParity, KernelsOnMatchKernelsOffFp32) {
  torch::manual_seed(21);
  model::Qwen3ForCausalLM model(small_config(GetParam()));
  auto ids = torch::randint(0, 97, {2, 13}, torch::kInt64);
  auto labels = ids.clone();
  labels.index_put_({0, torch::indexing::Slice(0, 4)}, -100);  // a masked prompt
  kernels::KernelizeOptions cpu;
  cpu.device = kernels::DeviceInfo{};
  auto ref = run(model, ids, labels);
  auto report = kernels::apply_default_kernels(*model, "auto", cpu);
  ASSERT_GT(report.applied.size(), 0u);
  ASSERT_EQ(report.count("cpu_fused_linear_cross_entropy"), 1);
  EXPECT_FALSE(model->forward(ids, labels).logits.defined()) << "fused loss: no logits";
  auto fused = run(model, ids, labels);
  expect_same(fused, ref, torch::kFloat32);
  kernels::unkernelize(*model);
  auto again = run(model, ids, labels);
  EXPECT_TRUE(torch::equal(again.logits, ref.logits)) << "unkernelize must restore the reference";
}

INSTANTIATE_TEST_SUITE_P(TiedAndUntied, WholeModelParity, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "tied" : "untied"; });

TEST(WholeModelParityBf16, KernelsOnMatchKernelsOff) {
  torch::manual_seed(22);
  model::Qwen3ForCausalLM model(small_config(false));
  model->to(torch::kBFloat16);
  auto ids = torch::randint(0, 97, {2, 13}, torch::kInt64);
  kernels::KernelizeOptions cpu;
  cpu.device = kernels::DeviceInfo{};
  auto ref = run(model, ids, ids);
  kernels::apply_default_kernels(*model, "auto", cpu);
  auto fused = run(model, ids, ids);
  // bf16 logits are a sum over 48 hidden units after two layers: compare at the reduced level.
  EXPECT_TRUE(all_close(fused.logits, ref.logits,
                        tolerance(torch::kBFloat16, Quantity::kReducedGrad, 48), "logits"));
  EXPECT_TRUE(
      all_close(fused.loss, ref.loss, tolerance(torch::kBFloat16, Quantity::kOutput), "loss"));
}

}  // namespace
}  // namespace fusebox::test
