// config.json -> Qwen3Config for Qwen3-MoE in the layouts transformers 4.5x and 5.x write,
// transformers' defaults for what is left out, and clear errors naming the key.
#include <gtest/gtest.h>

#include "io/hf_config.h"
#include "moe_test_util.h"

namespace fusebox::test {
namespace {

// What transformers 4.5x writes for a Qwen3-MoE (Qwen3-30B-A3B's layout, small sizes).
const char* kConfig45 = R"({
  "architectures": ["Qwen3MoeForCausalLM"],
  "model_type": "qwen3_moe",
  "vocab_size": 1000, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4,
  "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
  "max_position_embeddings": 2048, "rope_theta": 1000000.0, "rope_scaling": null,
  "rms_norm_eps": 1e-06, "initializer_range": 0.02, "tie_word_embeddings": false,
  "attention_bias": false, "attention_dropout": 0.0, "hidden_act": "silu",
  "use_sliding_window": false, "sliding_window": null, "max_window_layers": 4,
  "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
  "norm_topk_prob": true, "decoder_sparse_step": 2, "mlp_only_layers": [],
  "output_router_logits": false, "router_aux_loss_coef": 0.001,
  "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": true
})";

// What transformers 5.x writes: rope_parameters, dtype, num_experts under its mapped
// attribute name num_local_experts.
const char* kConfig5 = R"({
  "architectures": ["Qwen3MoeForCausalLM"],
  "model_type": "qwen3_moe",
  "vocab_size": 1000, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4,
  "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
  "max_position_embeddings": 2048,
  "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
  "rms_norm_eps": 1e-06, "initializer_range": 0.02, "tie_word_embeddings": false,
  "attention_bias": false, "attention_dropout": 0.0, "hidden_act": "silu",
  "num_local_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
  "norm_topk_prob": true, "decoder_sparse_step": 2, "mlp_only_layers": null,
  "output_router_logits": true, "router_aux_loss_coef": 0.01,
  "dtype": "bfloat16", "transformers_version": "5.0.0"
})";

void expect_small_moe(const model::Qwen3Config& c) {
  EXPECT_TRUE(c.is_moe());
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 96);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.rope_theta, 1000000.0);
  EXPECT_EQ(c.num_experts, 8);
  EXPECT_EQ(c.num_experts_per_tok, 2);
  EXPECT_EQ(c.moe_intermediate_size, 32);
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_EQ(c.decoder_sparse_step, 2);
  EXPECT_TRUE(c.mlp_only_layers.empty());
  EXPECT_EQ(c.num_sparse_layers(), 2);  // layers 1 and 3
}

TEST(MoeHfConfig, ParsesTransformers45Layout) {
  auto c = io::parse_hf_config(kConfig45, "4.5x.json");
  expect_small_moe(c);
  EXPECT_FALSE(c.output_router_logits);
  EXPECT_DOUBLE_EQ(c.router_aux_loss_coef, 0.001);
}

TEST(MoeHfConfig, ParsesTransformers5Layout) {
  auto c = io::parse_hf_config(kConfig5, "5.x.json");
  expect_small_moe(c);
  EXPECT_TRUE(c.output_router_logits);
  EXPECT_DOUBLE_EQ(c.router_aux_loss_coef, 0.01);
}

TEST(MoeHfConfig, ParsesTheTinyConfigShippedWithFusebox) {
  auto c = io::read_hf_config(std::string(FUSEBOX_SOURCE_DIR) +
                              "/configs/models/qwen3-moe-tiny/config.json");
  EXPECT_EQ(c.mlp_only_layers, (std::vector<int64_t>{0}));
  EXPECT_FALSE(c.is_sparse_layer(0));
  EXPECT_TRUE(c.is_sparse_layer(1));
  EXPECT_TRUE(c.output_router_logits);
}

TEST(MoeHfConfig, MissingKeysTakeQwen3MoeConfigDefaults) {
  auto c = io::parse_hf_config(R"({"model_type": "qwen3_moe", "vocab_size": 300,
                                   "num_hidden_layers": 2})",
                               "min.json");
  EXPECT_EQ(c.hidden_size, 2048);
  EXPECT_EQ(c.intermediate_size, 6144);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 2048 / 32);  // Qwen3MoeConfig has no head_dim: hidden / heads
  EXPECT_EQ(c.num_experts, 128);
  EXPECT_EQ(c.num_experts_per_tok, 8);
  EXPECT_EQ(c.moe_intermediate_size, 768);
  EXPECT_FALSE(c.norm_topk_prob);
  EXPECT_EQ(c.decoder_sparse_step, 1);
  EXPECT_FALSE(c.output_router_logits);
  EXPECT_DOUBLE_EQ(c.router_aux_loss_coef, 0.001);
}

TEST(MoeHfConfig, MissingKeysOfADenseConfigTakeQwen3ConfigDefaults) {
  auto c = io::parse_hf_config(R"({"model_type": "qwen3", "num_attention_heads": 64})", "d.json");
  EXPECT_EQ(c.head_dim, 128);            // Qwen3Config's default, not hidden / heads
  EXPECT_EQ(c.num_key_value_heads, 32);  // Qwen3Config's default when the key is absent ...
  auto n = io::parse_hf_config(
      R"({"model_type": "qwen3", "num_attention_heads": 64, "num_key_value_heads": null})", "n");
  EXPECT_EQ(n.num_key_value_heads, 64);  // ... and num_attention_heads when it is null
  EXPECT_FALSE(n.is_moe());
  EXPECT_EQ(n.num_sparse_layers(), 0);
}

TEST(MoeHfConfig, DenseConfigIgnoresStrayMoeKeys) {
  auto c = io::parse_hf_config(R"({"model_type": "qwen3", "num_experts": 8})", "d.json");
  EXPECT_EQ(c.num_experts, 0);
  EXPECT_EQ(c.num_sparse_layers(), 0);
}

std::string error_of(const std::string& json) {
  return config_error_of([&] { io::parse_hf_config(json, "bad.json"); });
}

TEST(MoeHfConfig, RejectsBadMoeFieldsNamingTheKey) {
  auto with = [](const std::string& extra) {
    return R"({"model_type": "qwen3_moe", "num_hidden_layers": 2, "hidden_size": 64,
               "num_attention_heads": 4, "num_key_value_heads": 2, )" +
           extra + "}";
  };
  EXPECT_TRUE(Contains(error_of(with(R"("num_experts": 4, "num_experts_per_tok": 6)")),
                       "bad.json: 'num_experts_per_tok' must be in [1, num_experts = 4], got 6"));
  EXPECT_TRUE(Contains(error_of(with(R"("moe_intermediate_size": 0)")),
                       "'moe_intermediate_size' must be a positive integer, got 0"));
  EXPECT_TRUE(Contains(error_of(with(R"("decoder_sparse_step": 0)")),
                       "'decoder_sparse_step' must be >= 1, got 0"));
  EXPECT_TRUE(Contains(error_of(with(R"("mlp_only_layers": [0, 2])")),
                       "'mlp_only_layers' holds layer 2, outside [0, num_hidden_layers = 2)"));
  EXPECT_TRUE(Contains(error_of(with(R"("mlp_only_layers": 1)")),
                       "key 'mlp_only_layers' must be a list of layer indices, got 1"));
  EXPECT_TRUE(Contains(error_of(with(R"("mlp_only_layers": [0.5])")),
                       "key 'mlp_only_layers' must hold integers"));
  EXPECT_TRUE(Contains(error_of(with(R"("num_experts": 2.5)")),
                       "key 'num_experts' must be an integer, got 2.5"));
  EXPECT_TRUE(Contains(error_of(with(R"("norm_topk_prob": "yes")")),
                       "key 'norm_topk_prob' has the wrong type"));
  EXPECT_TRUE(Contains(error_of(with(R"("num_experts": 8, "num_local_experts": 16)")),
                       "'num_experts' (8) and 'num_local_experts' (16) disagree"));
}

TEST(MoeHfConfig, UnsupportedArchitectureFieldsStayErrors) {
  EXPECT_TRUE(Contains(error_of(R"({"model_type": "mixtral"})"),
                       "model_type 'mixtral' is not supported; expected 'qwen3' or 'qwen3_moe'"));
  EXPECT_TRUE(Contains(error_of(R"({"model_type": "qwen3_moe", "hidden_act": "gelu"})"),
                       "hidden_act 'gelu' is not supported"));
  EXPECT_TRUE(
      Contains(error_of(R"({"model_type": "qwen3_moe", "rope_scaling": {"rope_type": "yarn"}})"),
               "rope_scaling.rope_type 'yarn' is not supported"));
  EXPECT_TRUE(Contains(
      error_of(R"({"model_type": "qwen3_moe", "rope_parameters": {"rope_type": "linear"}})"),
      "rope_parameters.rope_type 'linear' is not supported"));
  EXPECT_TRUE(Contains(error_of(R"({"model_type": "qwen3_moe", "attention_bias": true})"),
                       "attention_bias=true is not supported"));
  EXPECT_TRUE(Contains(error_of(R"({"model_type": "qwen3_moe", "attention_dropout": 0.1})"),
                       "attention_dropout=0.1 is not supported"));
}

}  // namespace
}  // namespace fusebox::test
