// Generation with the KV cache gives what recomputing the whole sequence gives: the same
// logits at every step (to fp32 rounding) and the same greedy tokens; dense and MoE.
#include <gtest/gtest.h>

#include "infer/generate.h"
#include "model/kv_cache.h"
#include "model/qwen3.h"
#include "support/assert_close.h"
#include "unit/model/moe_test_util.h"
#include "util/error.h"

namespace fusebox::test {
namespace {

model::Qwen3Config config_for(bool moe) {
  auto c = small_moe_config(6, 2);
  if (!moe) c.model_type = "qwen3";
  return c;
}

class KVCacheGeneration : public ::testing::TestWithParam<bool> {};

TEST_P(KVCacheGeneration, CachedLogitsEqualFullRecompute) {
  torch::manual_seed(11);
  auto c = config_for(GetParam());
  model::Qwen3ForCausalLM model(c);
  model->eval();
  torch::NoGradGuard no_grad;
  auto seq = torch::randint(c.vocab_size, {2, 13}, torch::kInt64);
  // Prefill 5 positions, then one at a time: every step's last-position logits must match
  // the full forward's logits at that position.
  model::KVCache cache(c, 2, 13, torch::TensorOptions().dtype(torch::kFloat32));
  auto full = model->forward(seq).logits;
  auto first = model->next_token_logits(seq.narrow(1, 0, 5), cache);
  EXPECT_TRUE(all_close(first, full.select(1, 4), {2e-5, 1e-5}, "prefill logits"));
  for (int64_t t = 5; t < 13; ++t) {
    auto step = model->next_token_logits(seq.narrow(1, t, 1), cache);
    EXPECT_TRUE(all_close(step, full.select(1, t), {2e-5, 1e-5}, "decode logits"))
        << "position " << t;
  }
  EXPECT_EQ(cache.length(), 13);
  EXPECT_THROW(model->next_token_logits(seq.narrow(1, 0, 1), cache), Error);
}

TEST_P(KVCacheGeneration, GreedyTokensEqualFullRecompute) {
  torch::manual_seed(5);
  auto c = config_for(GetParam());
  model::Qwen3ForCausalLM model(c);
  model->eval();
  std::vector<int64_t> prompt = {3, 17, 42, 8};
  infer::GenerateOptions opts;
  opts.max_new_tokens = 12;
  auto cached = infer::generate(model, prompt, opts);
  ASSERT_EQ(cached.tokens.size(), 12u);
  EXPECT_EQ(cached.stop_reason, "max_new_tokens");

  torch::NoGradGuard no_grad;
  std::vector<int64_t> seq = prompt;
  for (int64_t i = 0; i < 12; ++i) {
    auto ids = torch::tensor(seq, torch::kInt64).unsqueeze(0);
    auto logits = model->forward(ids).logits[0][-1];
    seq.push_back(logits.argmax().item<int64_t>());
    EXPECT_EQ(cached.tokens[static_cast<std::size_t>(i)], seq.back()) << "token " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(DenseAndMoE, KVCacheGeneration, ::testing::Bool());

TEST(Generate, StopsAtAStopToken) {
  torch::manual_seed(5);
  model::Qwen3ForCausalLM model(config_for(false));
  infer::GenerateOptions opts;
  opts.max_new_tokens = 20;
  auto free_run = infer::generate(model, {1, 2, 3}, opts);
  opts.stop_ids = {free_run.tokens[2]};
  auto stopped = infer::generate(model, {1, 2, 3}, opts);
  EXPECT_EQ(stopped.stop_reason, "stop token");
  // Stops at the first occurrence, which may come before index 2.
  EXPECT_LE(stopped.tokens.size(), 3u);
  EXPECT_EQ(stopped.tokens.back(), free_run.tokens[2]);
}

TEST(Generate, RejectsBadPrompts) {
  model::Qwen3ForCausalLM model(config_for(false));
  infer::GenerateOptions opts;
  EXPECT_THROW(infer::generate(model, {}, opts), Error);
  EXPECT_THROW(infer::generate(model, {1, 97}, opts), Error);  // vocab is 97
  opts.max_new_tokens = 0;
  EXPECT_THROW(infer::generate(model, {1}, opts), ConfigError);
}

}  // namespace
}  // namespace fusebox::test
