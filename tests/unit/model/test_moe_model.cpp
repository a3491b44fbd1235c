// Qwen3ForCausalLM as a Qwen3-MoE model: transformers' parameter names, dense and sparse
// layers where the config puts them, the load-balancing loss in the training loss, and a
// forward + backward through everything.
#include <gtest/gtest.h>

#include "io/hf_config.h"
#include "kernels/api.h"
#include "model/loss.h"
#include "model/moe_aux_loss.h"
#include "model/qwen3.h"
#include "moe_test_util.h"
#include "support/assert_close.h"

namespace fusebox::test {
namespace {

model::Qwen3Config tiny_moe() {
  return io::read_hf_config(std::string(FUSEBOX_SOURCE_DIR) +
                            "/configs/models/qwen3-moe-tiny/config.json");
}

// transformers' Qwen3MoeForCausalLM state_dict keys for configs/models/qwen3-moe-tiny
// (layer 0 in mlp_only_layers, layer 1 sparse with 8 experts; tied, so no lm_head.weight),
// with the shapes [out, in] that the checkpoint holds.
std::vector<std::pair<std::string, std::vector<int64_t>>> expected_parameters() {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out{
      {"model.embed_tokens.weight", {259, 128}}};
  auto attention = [&](const std::string& p) {
    out.push_back({p + "self_attn.q_proj.weight", {128, 128}});
    out.push_back({p + "self_attn.k_proj.weight", {64, 128}});
    out.push_back({p + "self_attn.v_proj.weight", {64, 128}});
    out.push_back({p + "self_attn.o_proj.weight", {128, 128}});
    out.push_back({p + "self_attn.q_norm.weight", {32}});
    out.push_back({p + "self_attn.k_norm.weight", {32}});
  };
  auto norms = [&](const std::string& p) {
    out.push_back({p + "input_layernorm.weight", {128}});
    out.push_back({p + "post_attention_layernorm.weight", {128}});
  };
  attention("model.layers.0.");
  out.push_back({"model.layers.0.mlp.gate_proj.weight", {384, 128}});
  out.push_back({"model.layers.0.mlp.up_proj.weight", {384, 128}});
  out.push_back({"model.layers.0.mlp.down_proj.weight", {128, 384}});
  norms("model.layers.0.");
  attention("model.layers.1.");
  out.push_back({"model.layers.1.mlp.gate.weight", {8, 128}});
  for (int e = 0; e < 8; ++e) {
    std::string p = "model.layers.1.mlp.experts." + std::to_string(e) + ".";
    out.push_back({p + "gate_proj.weight", {64, 128}});
    out.push_back({p + "up_proj.weight", {64, 128}});
    out.push_back({p + "down_proj.weight", {128, 64}});
  }
  norms("model.layers.1.");
  out.push_back({"model.norm.weight", {128}});
  return out;
}

TEST(MoeModel, ParameterNamesAndShapesAreTransformersCheckpointKeys) {
  model::Qwen3ForCausalLM lm(tiny_moe());
  std::vector<std::pair<std::string, std::vector<int64_t>>> actual;
  for (const auto& p : lm->named_parameters())
    actual.push_back({p.key(), p.value().sizes().vec()});
  EXPECT_EQ(actual, expected_parameters());
}

TEST(MoeModel, LayersAreDenseOrSparseAsTheConfigSays) {
  auto c = small_moe_config();
  c.num_hidden_layers = 4;
  c.decoder_sparse_step = 2;
  c.mlp_only_layers = {3};
  model::Qwen3ForCausalLM lm(c);
  std::vector<bool> sparse;
  for (const auto& layer : *lm->model->layers)
    sparse.push_back(layer->as<model::Qwen3DecoderLayer>()->is_sparse());
  EXPECT_EQ(sparse, (std::vector<bool>{false, true, false, false}));
}

TEST(MoeModel, ForwardAndBackwardReachEveryRoutedParameter) {
  torch::manual_seed(31);
  auto c = tiny_moe();
  model::Qwen3ForCausalLM lm(c);
  auto ids = torch::randint(0, c.vocab_size, {4, 17}, torch::kInt64);
  auto out = lm->forward(ids, ids);
  ASSERT_TRUE(out.loss.defined());
  ASSERT_TRUE(out.aux_loss.defined());
  ASSERT_EQ(out.router_logits.size(), 1u);  // one sparse layer
  EXPECT_EQ(out.router_logits[0].sizes(), (std::vector<int64_t>{4 * 17, 8}));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{4, 17, c.vocab_size}));
  out.loss.backward();
  int64_t with_grad = 0, total = 0;
  for (const auto& p : lm->named_parameters()) {
    ++total;
    const auto& g = p.value().grad();
    bool reached = g.defined() && g.abs().sum().item<double>() > 0;
    with_grad += reached ? 1 : 0;
    // Only an expert that no token chose may go without a gradient.
    if (!reached && p.key().find(".experts.") == std::string::npos)
      ADD_FAILURE() << p.key() << " got no gradient";
  }
  // 68 tokens x top-2 over 8 experts: unused experts are possible but not many.
  EXPECT_GT(with_grad, total - 3 * 3);
}

TEST(MoeModel, LossIsLmLossPlusCoefTimesAuxLoss) {
  torch::manual_seed(32);
  auto c = small_moe_config(6, 2, true);
  c.output_router_logits = true;
  c.router_aux_loss_coef = 0.25;  // large, so a missing term would show
  model::Qwen3ForCausalLM lm(c);
  auto ids = torch::randint(0, c.vocab_size, {2, 9}, torch::kInt64);
  auto out = lm->forward(ids, ids);
  ASSERT_EQ(out.router_logits.size(), 2u);
  auto lm_loss = model::causal_lm_loss(out.logits, ids);
  auto aux = model::load_balancing_loss(out.router_logits, 6, 2);
  EXPECT_NEAR(out.aux_loss.item<double>(), aux.item<double>(), 1e-7);
  EXPECT_NEAR(out.loss.item<double>(), lm_loss.item<double>() + 0.25 * aux.item<double>(), 1e-6);

  // The attention mask only changes the aux term.
  auto mask = torch::ones({2, 9}, torch::kInt64);
  mask.index_put_({1, torch::indexing::Slice(6, torch::indexing::None)}, 0);
  auto masked = lm->forward(ids, ids, 0, mask);
  EXPECT_TRUE(torch::equal(masked.logits, out.logits));
  EXPECT_NEAR(masked.aux_loss.item<double>(),
              model::load_balancing_loss(out.router_logits, 6, 2, mask).item<double>(), 1e-7);

  // Without labels the aux loss is still reported, as transformers does.
  auto no_labels = lm->forward(ids);
  EXPECT_FALSE(no_labels.loss.defined());
  EXPECT_TRUE(no_labels.aux_loss.defined());
}

TEST(MoeModel, WithoutOutputRouterLogitsTheLossIsTheLmLoss) {
  torch::manual_seed(33);
  auto c = small_moe_config();
  c.output_router_logits = false;
  model::Qwen3ForCausalLM lm(c);
  auto ids = torch::randint(0, c.vocab_size, {2, 9}, torch::kInt64);
  auto out = lm->forward(ids, ids);
  EXPECT_FALSE(out.aux_loss.defined());
  EXPECT_TRUE(out.router_logits.empty());
  EXPECT_EQ(out.loss.item<double>(), model::causal_lm_loss(out.logits, ids).item<double>());
}

TEST(MoeModel, GateAndExpertsAreInitialisedLikeEveryLinear) {
  torch::manual_seed(34);
  auto c = small_moe_config(16, 2, true);
  c.hidden_size = 64;
  c.moe_intermediate_size = 64;
  c.initializer_range = 0.05;
  model::Qwen3ForCausalLM lm(c);
  auto block = lm->model->layers[0]->as<model::Qwen3DecoderLayer>()->sparse_mlp;
  ASSERT_TRUE(block);
  for (const auto& w : {block->gate->weight, block->expert(5).up_proj->weight}) {
    EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.01);
    EXPECT_NEAR(w.std().item<double>(), 0.05, 0.005);
  }
}

TEST(MoeModel, KernelsOnMatchKernelsOff) {
  torch::manual_seed(35);
  auto c = small_moe_config(6, 2, true);
  c.output_router_logits = true;
  model::Qwen3ForCausalLM lm(c);
  auto ids = torch::randint(0, c.vocab_size, {2, 11}, torch::kInt64);
  auto ref = lm->forward(ids, ids);
  kernels::KernelizeOptions cpu;
  cpu.device = kernels::DeviceInfo{};
  kernels::apply_default_kernels(*lm, "auto", cpu);
  auto fused = lm->forward(ids, ids);
  EXPECT_FALSE(fused.logits.defined()) << "the fused loss head materialises no logits";
  auto fused_logits = lm->forward(ids).logits;
  kernels::unkernelize(*lm);
  EXPECT_TRUE(all_close(fused_logits, ref.logits, tolerance(torch::kFloat32, Quantity::kInputGrad),
                        "logits"));
  EXPECT_TRUE(
      all_close(fused.loss, ref.loss, tolerance(torch::kFloat32, Quantity::kOutput), "loss"));
}

}  // namespace
}  // namespace fusebox::test
