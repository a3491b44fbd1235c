// bf16 mixed precision with fp32 masters (train/master_weights.h): what is stored where, and
// that a few bf16 training steps follow the fp32 run closely.
#include <gtest/gtest.h>

#include "model/qwen3.h"
#include "support/assert_close.h"
#include "train/master_weights.h"
#include "unit/model/moe_test_util.h"

namespace fusebox::test {
namespace {

model::Qwen3Config dense_config() {
  auto c = small_moe_config();
  c.model_type = "qwen3";
  return c;
}

TEST(MasterWeights, Bf16ModelWithFp32Masters) {
  torch::manual_seed(1);
  model::Qwen3ForCausalLM model(dense_config());
  auto before = model->named_parameters()["model.norm.weight"].clone();
  auto q_before = model->named_parameters()["model.layers.0.self_attn.q_proj.weight"].clone();
  train::MasterWeights mw(*model, torch::kBFloat16);
  ASSERT_TRUE(mw.enabled());
  for (const auto& p : model->parameters())
    EXPECT_EQ(p.scalar_type(), torch::kBFloat16);
  ASSERT_EQ(mw.optimizer_parameters().size(), model->parameters().size());
  for (const auto& item : mw.optimizer_parameters()) {
    const auto& name = item.key();
    const auto& master = item.value();
    EXPECT_EQ(master.scalar_type(), torch::kFloat32) << name;
    EXPECT_TRUE(master.is_leaf() && master.requires_grad()) << name;
  }
  // The masters hold the fp32 values exactly, not their bf16 rounding.
  for (const auto& item : mw.optimizer_parameters()) {
    const auto& name = item.key();
    const auto& master = item.value();
    if (name == "model.layers.0.self_attn.q_proj.weight") {
      EXPECT_TRUE(torch::equal(master, q_before));
    } else if (name == "model.norm.weight") {
      EXPECT_TRUE(torch::equal(master, before));
    }
  }
  // Saving sees the masters; afterwards the model is bf16 again.
  mw.with_master_weights([&] {
    EXPECT_EQ(model->named_parameters()["model.layers.0.self_attn.q_proj.weight"].scalar_type(),
              torch::kFloat32);
    EXPECT_TRUE(torch::equal(model->named_parameters()["model.layers.0.self_attn.q_proj.weight"],
                             q_before));
  });
  EXPECT_EQ(model->named_parameters()["model.layers.0.self_attn.q_proj.weight"].scalar_type(),
            torch::kBFloat16);
}

TEST(MasterWeights, GradientsAccumulateInFp32) {
  torch::manual_seed(2);
  model::Qwen3ForCausalLM model(dense_config());
  train::MasterWeights mw(*model, torch::kBFloat16);
  auto ids = torch::randint(97, {2, 7}, torch::kInt64);
  std::vector<torch::Tensor> expected;
  mw.zero_gradients();
  for (int micro = 0; micro < 2; ++micro) {
    model->forward(ids, ids).loss.backward();
    if (micro == 0) {
      for (const auto& p : model->parameters())
        expected.push_back(p.grad().to(torch::kFloat32));
    } else {
      std::size_t i = 0;
      for (const auto& p : model->parameters())
        expected[i++] += p.grad().to(torch::kFloat32);
    }
    mw.accumulate_gradients();
    for (const auto& p : model->parameters())
      EXPECT_FALSE(p.grad().defined());  // cleared: the next micro-batch starts from zero
  }
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& name = mw.optimizer_parameters()[i].key();
    const auto& master = mw.optimizer_parameters()[i].value();
    EXPECT_TRUE(all_close(master.grad(), expected[i], {0, 0}, name));
  }
}

// 30 AdamW steps on one batch: the bf16 run's losses stay within bf16 noise of the fp32 run's.
TEST(MasterWeights, Bf16TrainingTracksFp32) {
  auto run = [](torch::ScalarType dtype) {
    torch::manual_seed(3);
    model::Qwen3ForCausalLM model(dense_config());
    train::MasterWeights mw(*model, dtype);
    std::vector<torch::Tensor> params;
    for (const auto& np : mw.optimizer_parameters())
      params.push_back(np.value());
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(3e-3));
    auto ids = torch::randint(97, {4, 16}, torch::kInt64);
    std::vector<double> losses;
    for (int step = 0; step < 30; ++step) {
      mw.zero_gradients();
      auto loss = model->forward(ids, ids).loss;
      loss.backward();
      mw.accumulate_gradients();
      opt.step();
      mw.copy_masters_to_model();
      losses.push_back(loss.item<double>());
    }
    return losses;
  };
  auto fp32 = run(torch::kFloat32), bf16 = run(torch::kBFloat16);
  EXPECT_LT(bf16.back(), bf16.front() - 1.0);  // it learns
  for (std::size_t i = 0; i < fp32.size(); ++i)
    EXPECT_NEAR(bf16[i], fp32[i], 0.03 * fp32[i] + 0.02) << "step " << i;
}

}  // namespace
}  // namespace fusebox::test
