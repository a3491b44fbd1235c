// config.json out: what transformers needs to load a saved directory, and a round trip
// through fusebox's own reader.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/hf_config.h"
#include "io/hf_config_writer.h"
#include "io_test_util.h"

namespace fusebox::io::testing {
namespace {

using nlohmann::json;

TEST(HfConfigWriter, DenseHasEveryFieldTransformersReads) {
  auto config = small_config(true);
  auto j = json::parse(hf_config_to_json(config, "bfloat16"));
  EXPECT_EQ(j["architectures"], json::array({"Qwen3ForCausalLM"}));
  EXPECT_EQ(j["model_type"], "qwen3");
  EXPECT_EQ(j["vocab_size"], 97);
  EXPECT_EQ(j["hidden_size"], 48);
  EXPECT_EQ(j["intermediate_size"], 80);
  EXPECT_EQ(j["num_hidden_layers"], 2);
  EXPECT_EQ(j["num_attention_heads"], 6);
  EXPECT_EQ(j["num_key_value_heads"], 2);
  EXPECT_EQ(j["head_dim"], 16);
  EXPECT_EQ(j["max_position_embeddings"], 256);
  EXPECT_EQ(j["rope_theta"], 1e6);
  EXPECT_EQ(j["rope_parameters"], (json{{"rope_type", "default"}, {"rope_theta", 1e6}}));
  EXPECT_EQ(j["rms_norm_eps"], 1e-6);
  EXPECT_EQ(j["initializer_range"], 0.02);
  EXPECT_EQ(j["tie_word_embeddings"], true);
  EXPECT_EQ(j["hidden_act"], "silu");
  EXPECT_EQ(j["attention_bias"], false);
  EXPECT_EQ(j["attention_dropout"], 0.0);
  EXPECT_EQ(j["use_cache"], true);
  EXPECT_EQ(j["use_sliding_window"], false);
  EXPECT_EQ(j["torch_dtype"], "bfloat16");
  EXPECT_EQ(j["dtype"], "bfloat16");
  EXPECT_FALSE(j.contains("num_experts"));
}

TEST(HfConfigWriter, MoeNamesTheMoeArchitectureAndItsFields) {
  auto config = small_config(false);
  config.model_type = "qwen3_moe";
  config.num_experts = 8;
  config.num_experts_per_tok = 2;
  config.moe_intermediate_size = 32;
  config.norm_topk_prob = true;
  config.decoder_sparse_step = 2;
  config.mlp_only_layers = {0};
  config.output_router_logits = true;
  config.router_aux_loss_coef = 0.01;
  auto j = json::parse(hf_config_to_json(config));
  EXPECT_EQ(j["architectures"], json::array({"Qwen3MoeForCausalLM"}));
  EXPECT_EQ(j["model_type"], "qwen3_moe");
  EXPECT_EQ(j["num_experts"], 8);
  EXPECT_EQ(j["num_experts_per_tok"], 2);
  EXPECT_EQ(j["moe_intermediate_size"], 32);
  EXPECT_EQ(j["norm_topk_prob"], true);
  EXPECT_EQ(j["decoder_sparse_step"], 2);
  EXPECT_EQ(j["mlp_only_layers"], json::array({0}));
  EXPECT_EQ(j["output_router_logits"], true);
  EXPECT_EQ(j["router_aux_loss_coef"], 0.01);
  EXPECT_EQ(j["torch_dtype"], "float32");

  auto back = parse_hf_config(hf_config_to_json(config), "written");
  EXPECT_EQ(back.model_type, "qwen3_moe");
  EXPECT_EQ(back.num_experts, 8);
  EXPECT_EQ(back.num_experts_per_tok, 2);
  EXPECT_EQ(back.moe_intermediate_size, 32);
  EXPECT_EQ(back.norm_topk_prob, true);
  EXPECT_EQ(back.decoder_sparse_step, 2);
  EXPECT_EQ(back.mlp_only_layers, std::vector<int64_t>{0});
  EXPECT_EQ(back.output_router_logits, true);
  EXPECT_EQ(back.router_aux_loss_coef, 0.01);
}

TEST(HfConfigWriter, TinyDefaultConfigRoundTrips) {
  auto path = std::string(FUSEBOX_SOURCE_DIR) + "/configs/models/qwen3-tiny/config.json";
  auto original = read_hf_config(path);
  auto back = parse_hf_config(hf_config_to_json(original), "written");
  EXPECT_EQ(back.describe(), original.describe());
  EXPECT_EQ(back.max_position_embeddings, original.max_position_embeddings);
  EXPECT_EQ(back.rope_theta, original.rope_theta);
  EXPECT_EQ(back.rms_norm_eps, original.rms_norm_eps);
  EXPECT_EQ(back.initializer_range, original.initializer_range);
  EXPECT_EQ(back.tie_word_embeddings, original.tie_word_embeddings);
  // Every key the reference file has is written (plus the extra ones transformers reads).
  auto ref = json::parse(read_bytes(path));
  auto written = json::parse(hf_config_to_json(original));
  for (const auto& [key, value] : ref.items()) {
    ASSERT_TRUE(written.contains(key)) << key;
    EXPECT_EQ(written[key], value) << key;
  }
}

}  // namespace
}  // namespace fusebox::io::testing
