// Qwen3Config's MoE rules: which layers are sparse (transformers' Qwen3MoeDecoderLayer
// condition), what validate() refuses and how describe() reads.
#include <gtest/gtest.h>

#include "moe_test_util.h"

namespace fusebox::test {
namespace {

std::vector<bool> sparse_layers(const model::Qwen3Config& c) {
  std::vector<bool> out;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i)
    out.push_back(c.is_sparse_layer(i));
  return out;
}

TEST(MoeConfig, EveryLayerIsSparseWithStepOne) {
  auto c = small_moe_config();
  c.num_hidden_layers = 3;
  EXPECT_EQ(sparse_layers(c), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(c.num_sparse_layers(), 3);
}

TEST(MoeConfig, DecoderSparseStepMakesEveryNthLayerSparseCountingFromOne) {
  auto c = small_moe_config();
  c.num_hidden_layers = 6;
  c.decoder_sparse_step = 2;  // (i + 1) % 2 == 0: layers 1, 3, 5
  EXPECT_EQ(sparse_layers(c), (std::vector<bool>{false, true, false, true, false, true}));
  c.decoder_sparse_step = 3;  // layers 2, 5
  EXPECT_EQ(sparse_layers(c), (std::vector<bool>{false, false, true, false, false, true}));
}

TEST(MoeConfig, MlpOnlyLayersStayDenseOnTopOfTheStep) {
  auto c = small_moe_config();
  c.num_hidden_layers = 6;
  c.decoder_sparse_step = 2;
  c.mlp_only_layers = {0, 3};  // 0 was dense anyway; 3 would be sparse
  EXPECT_EQ(sparse_layers(c), (std::vector<bool>{false, true, false, false, false, true}));
}

TEST(MoeConfig, NoExpertsMeansNoSparseLayer) {
  auto c = small_moe_config();
  c.num_experts = 0;
  EXPECT_EQ(sparse_layers(c), (std::vector<bool>{false, false}));
  EXPECT_NO_THROW(c.validate("cfg"));  // transformers accepts it: every layer dense
}

TEST(MoeConfig, DenseModelTypeIgnoresTheMoeFields) {
  auto c = small_moe_config();
  c.model_type = "qwen3";
  EXPECT_FALSE(c.is_moe());
  EXPECT_EQ(sparse_layers(c), (std::vector<bool>{false, false}));
}

TEST(MoeConfig, ValidateRefusesTopKOutsideOneToNumExperts) {
  auto c = small_moe_config(/*num_experts=*/4, /*top_k=*/5);
  auto msg = config_error_of([&] { c.validate("cfg.json"); });
  EXPECT_TRUE(Contains(msg, "cfg.json"));
  EXPECT_TRUE(Contains(msg, "'num_experts_per_tok' must be in [1, num_experts = 4], got 5"));
  c.num_experts_per_tok = 0;
  EXPECT_TRUE(Contains(config_error_of([&] { c.validate("cfg.json"); }), "got 0"));
  c.num_experts_per_tok = 4;  // top_k == num_experts is allowed
  EXPECT_NO_THROW(c.validate("cfg.json"));
}

TEST(MoeConfig, ValidateRefusesBadMoeFields) {
  auto c = small_moe_config();
  c.moe_intermediate_size = 0;
  EXPECT_TRUE(Contains(config_error_of([&] { c.validate("cfg"); }),
                       "'moe_intermediate_size' must be a positive integer, got 0"));
  c = small_moe_config();
  c.decoder_sparse_step = 0;
  EXPECT_TRUE(Contains(config_error_of([&] { c.validate("cfg"); }),
                       "'decoder_sparse_step' must be >= 1, got 0"));
  c = small_moe_config();
  c.mlp_only_layers = {1, 2};
  EXPECT_TRUE(Contains(config_error_of([&] { c.validate("cfg"); }),
                       "'mlp_only_layers' holds layer 2, outside [0, num_hidden_layers = 2)"));
  c.mlp_only_layers = {-1};
  EXPECT_TRUE(Contains(config_error_of([&] { c.validate("cfg"); }), "holds layer -1"));
}

TEST(MoeConfig, ValidateNamesBothSupportedModelTypes) {
  auto c = small_moe_config();
  c.model_type = "mixtral";
  EXPECT_TRUE(Contains(config_error_of([&] { c.validate("cfg"); }),
                       "model_type 'mixtral' is not supported; expected 'qwen3' or 'qwen3_moe'"));
}

TEST(MoeConfig, DescribeShowsTheExperts) {
  auto c = small_moe_config(8, 2, true);
  c.mlp_only_layers = {0};
  c.output_router_logits = true;
  EXPECT_EQ(c.describe(),
            "qwen3_moe: 2 layers (1 sparse), hidden 24, heads 4/2 x 8, mlp 40, experts 8 top-2 x "
            "20 normalised, aux loss 0.001, vocab 97");
  c.model_type = "qwen3";
  EXPECT_EQ(c.describe(), "qwen3: 2 layers, hidden 24, heads 4/2 x 8, mlp 40, vocab 97");
}

}  // namespace
}  // namespace fusebox::test
