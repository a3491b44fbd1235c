// Activation checkpointing changes memory, never numbers: loss and every parameter gradient
// with checkpointing on equal the plain backward's, dense and MoE, kernels off and on.
#include <gtest/gtest.h>

#include "kernels/api.h"
#include "model/qwen3.h"
#include "support/assert_close.h"
#include "unit/model/moe_test_util.h"

namespace fusebox::test {
namespace {

struct Result {
  double loss;
  std::vector<std::pair<std::string, torch::Tensor>> grads;
};

Result train_step(model::Qwen3ForCausalLM& model, const torch::Tensor& ids, bool checkpoint) {
  model->zero_grad();
  model->model->set_activation_checkpointing(checkpoint);
  auto out = model->forward(ids, ids);
  out.loss.backward();
  Result r{out.loss.item<double>(), {}};
  for (const auto& p : model->named_parameters()) {
    EXPECT_TRUE(p.value().grad().defined()) << p.key() << " got no gradient";
    r.grads.emplace_back(p.key(), p.value().grad().clone());
  }
  return r;
}

void expect_same(const Result& plain, const Result& ckpt) {
  EXPECT_NEAR(plain.loss, ckpt.loss, 1e-6);
  ASSERT_EQ(plain.grads.size(), ckpt.grads.size());
  for (std::size_t i = 0; i < plain.grads.size(); ++i) {
    // The recomputed forward is the same function of the same input; only the order of
    // gradient accumulation can differ.
    EXPECT_TRUE(
        all_close(ckpt.grads[i].second, plain.grads[i].second, {1e-6, 1e-5}, plain.grads[i].first));
  }
}

class ActivationCheckpoint : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(ActivationCheckpoint, GradientsMatchThePlainBackward) {
  auto [moe, kernels_on] = GetParam();
  torch::manual_seed(7);
  model::Qwen3Config c = small_moe_config(6, 2);
  if (!moe) c.model_type = "qwen3";
  c.output_router_logits = moe;  // the aux loss's gradient flows through checkpointed layers
  model::Qwen3ForCausalLM model(c);
  if (kernels_on) {
    kernels::KernelizeOptions opts;
    opts.mode = kernels::KernelMode::kTraining;
    opts.device = kernels::DeviceInfo{};  // CPU, whatever the machine has
    kernels::apply_default_kernels(*model, "auto", opts);
  }
  auto ids = torch::randint(c.vocab_size, {3, 11}, torch::kInt64);
  auto plain = train_step(model, ids, false);
  auto ckpt = train_step(model, ids, true);
  expect_same(plain, ckpt);
}

INSTANTIATE_TEST_SUITE_P(DenseAndMoE, ActivationCheckpoint,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()));

TEST(ActivationCheckpointMode, NoGradForwardIsUnchanged) {
  torch::manual_seed(3);
  model::Qwen3ForCausalLM model(small_moe_config());
  auto ids = torch::randint(97, {2, 9}, torch::kInt64);
  torch::NoGradGuard no_grad;
  auto plain = model->forward(ids).logits;
  model->model->set_activation_checkpointing(true);
  EXPECT_TRUE(all_close(model->forward(ids).logits, plain, {0, 0}, "logits"));
}

}  // namespace
}  // namespace fusebox::test
