// Parity with real transformers: fixtures under tests/fixtures/hf/ were made by
// scripts/make_hf_fixtures.py with transformers 5.17 on the CPU in fp32 (dense and MoE, tied
// and untied, GQA, head_dim != hidden/heads, norm_topk_prob on and off, dense layers inside
// the MoE model, a 4.5x-style config.json). fusebox loads each model directory and must
// reproduce the logits (max abs diff <= 1e-4), the loss and every gradient norm (relative
// <= 1e-4), with kernels off and with `auto`.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "io/hf_config.h"
#include "kernels/api.h"
#include "model/qwen3.h"

namespace fusebox::test {
namespace {

const std::string kFixtures = std::string(FUSEBOX_SOURCE_DIR) + "/tests/fixtures/hf/";

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

torch::Tensor to_tensor(const nlohmann::json& nested, torch::ScalarType dtype) {
  std::vector<int64_t> shape;
  const nlohmann::json* level = &nested;
  while (level->is_array()) {
    shape.push_back(static_cast<int64_t>(level->size()));
    level = &(*level)[0];
  }
  std::vector<double> flat;
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& j) {
    if (j.is_array()) {
      for (const auto& x : j)
        walk(x);
    } else {
      flat.push_back(j.get<double>());
    }
  };
  walk(nested);
  return torch::tensor(flat, torch::kFloat64).view(shape).to(dtype);
}

// transformers 5.x keeps each MoE layer's experts as two fused parameters
// (mlp.experts.gate_up_proj, mlp.experts.down_proj); fusebox keeps per-expert modules as
// they appear on disk. The norm of a fused gradient is the root of the summed squares of the
// per-expert gradients it is made of.
std::map<std::string, double> fusebox_grad_norms(model::Qwen3ForCausalLM& model) {
  std::map<std::string, double> squares;
  for (const auto& p : model->named_parameters()) {
    if (!p.value().grad().defined()) continue;
    double sq = p.value().grad().to(torch::kFloat64).pow(2).sum().item<double>();
    const std::string& name = p.key();
    auto pos = name.find(".mlp.experts.");
    if (pos == std::string::npos) {
      squares[name] += sq;
      continue;
    }
    std::string prefix = name.substr(0, pos) + ".mlp.experts.";
    bool down = name.find(".down_proj.") != std::string::npos;
    squares[prefix + (down ? "down_proj" : "gate_up_proj")] += sq;
    // The per-expert name too, for transformers versions that keep per-expert modules.
    squares[name] += sq;
  }
  std::map<std::string, double> norms;
  for (const auto& [k, v] : squares)
    norms[k] = std::sqrt(v);
  return norms;
}

class HfParity : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(HfParity, LogitsLossAndGradNormsMatchTransformers) {
  const auto& [fixture, include_kernels] = GetParam();
  const std::string dir = kFixtures + fixture;
  auto expected = read_json(dir + "/expected.json");
  auto config = io::read_hf_config(dir + "/config.json");
  model::Qwen3ForCausalLM model(config);
  io::load_hf_weights(model, dir);
  kernels::KernelizeOptions cpu;
  cpu.device = kernels::DeviceInfo{};
  kernels::apply_default_kernels(*model, include_kernels, cpu);
  model->train();

  auto ids = to_tensor(expected["input_ids"], torch::kInt64);
  auto out = model->forward(ids, ids);
  out.loss.backward();

  // With a fused loss kernel, a forward with labels returns no logits: ask for them alone.
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model->forward(ids).logits;
  }
  auto ref_logits = to_tensor(expected["logits"], torch::kFloat64);
  double max_diff = (logits.to(torch::kFloat64) - ref_logits).abs().max().item<double>();
  EXPECT_LE(max_diff, 1e-4) << "max |logits - transformers|";

  double ref_loss = expected["loss"].get<double>();
  EXPECT_NEAR(out.loss.item<double>(), ref_loss, 1e-4 * std::abs(ref_loss)) << "loss";

  if (!expected["aux_loss"].is_null()) {  // MoE with output_router_logits
    ASSERT_TRUE(out.aux_loss.defined())
        << "transformers computed a router aux loss; fusebox did not";
    double ref_aux = expected["aux_loss"].get<double>();
    EXPECT_NEAR(out.aux_loss.item<double>(), ref_aux, 1e-4 * std::abs(ref_aux)) << "aux loss";
  }

  auto norms = fusebox_grad_norms(model);
  int compared = 0;
  for (const auto& [name, value] : expected["grad_norms"].items()) {
    auto it = norms.find(name);
    ASSERT_NE(it, norms.end()) << "transformers has a gradient for '" << name
                               << "' that fusebox does not";
    double ref = value.get<double>();
    EXPECT_NEAR(it->second, ref, 1e-4 * std::abs(ref) + 1e-9) << "grad norm of " << name;
    ++compared;
  }
  EXPECT_GT(compared, 10);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, HfParity,
    ::testing::Combine(::testing::Values("qwen3_tied_gqa", "qwen3_untied_mha_legacy_config",
                                         "qwen3_moe_norm_topk_aux", "qwen3_moe_sparse_step_tied"),
                       ::testing::Values("false", "auto")),
    [](const auto& info) {
      return std::get<0>(info.param) + "_kernels_" + std::get<1>(info.param);
    });

}  // namespace
}  // namespace fusebox::test
