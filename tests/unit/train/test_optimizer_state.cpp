// AdamW state by parameter name: a saved and reloaded optimizer takes the next step exactly
// as the original; a file for another model or a partial file is an error naming the tensor.
// Also the RNG state file.
#include <gtest/gtest.h>

#include "io/safetensors_writer.h"
#include "model/qwen3.h"
#include "train/optimizer_state.h"
#include "unit/io/io_test_util.h"

namespace fusebox::train {
namespace {

using io::testing::Contains;
using io::testing::data_error_of;
using io::testing::small_config;
using io::testing::TempDir;

torch::optim::AdamW make_adamw(model::Qwen3ForCausalLM& m) {
  return torch::optim::AdamW(m->parameters(),
                             torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).weight_decay(0.1));
}

// One deterministic step: the loss of a fixed batch.
void step(model::Qwen3ForCausalLM& m, torch::optim::AdamW& opt, int64_t seed) {
  auto ids = torch::arange(seed, seed + 24, torch::kInt64).remainder(97).reshape({2, 12});
  opt.zero_grad();
  m->forward(ids, ids).loss.backward();
  opt.step();
}

model::Qwen3ForCausalLM copy_of(model::Qwen3ForCausalLM& m, const model::Qwen3Config& c) {
  model::Qwen3ForCausalLM other(c);
  torch::NoGradGuard no_grad;
  auto dst = other->named_parameters();
  for (const auto& p : m->named_parameters())
    dst[p.key()].copy_(p.value());
  return other;
}

bool same_parameters(model::Qwen3ForCausalLM& a, model::Qwen3ForCausalLM& b) {
  auto pb = b->named_parameters();
  for (const auto& p : a->named_parameters())
    if (!torch::equal(p.value(), pb[p.key()])) return false;
  return true;
}

TEST(OptimizerState, ReloadedStateTakesTheSameNextSteps) {
  TempDir dir;
  torch::manual_seed(1);
  auto config = small_config(/*tied=*/false);
  model::Qwen3ForCausalLM original(config);
  auto opt = make_adamw(original);
  step(original, opt, 0);
  step(original, opt, 5);
  save_adamw_state(opt, original->named_parameters(), dir / "optimizer.safetensors");

  auto resumed = copy_of(original, config);
  auto resumed_opt = make_adamw(resumed);
  load_adamw_state(resumed_opt, resumed->named_parameters(), dir / "optimizer.safetensors");
  EXPECT_EQ(resumed_opt.state().size(), original->parameters().size());

  auto fresh = copy_of(original, config);  // same weights, no optimizer state
  auto fresh_opt = make_adamw(fresh);
  for (int64_t s : {9, 13}) {
    step(original, opt, s);
    step(resumed, resumed_opt, s);
    step(fresh, fresh_opt, s);
  }
  // A wrong state key would make AdamW start new state beside the loaded one.
  EXPECT_EQ(resumed_opt.state().size(), original->parameters().size());
  EXPECT_TRUE(same_parameters(original, resumed)) << "bitwise equal after two more steps";
  EXPECT_FALSE(same_parameters(original, fresh)) << "the state matters, so the test can fail";
}

TEST(OptimizerState, ErrorsNameTheFileAndTensor) {
  TempDir dir;
  torch::manual_seed(2);
  auto config = small_config(/*tied=*/true);
  model::Qwen3ForCausalLM m(config);
  auto opt = make_adamw(m);
  step(m, opt, 0);
  std::string path = dir / "optimizer.safetensors";
  save_adamw_state(opt, m->named_parameters(), path);

  auto wide = config;
  wide.intermediate_size = 96;
  model::Qwen3ForCausalLM other(wide);
  auto other_opt = make_adamw(other);
  std::string message =
      data_error_of([&] { load_adamw_state(other_opt, other->named_parameters(), path); });
  EXPECT_TRUE(Contains(message,
                       "tensor 'exp_avg.model.layers.0.mlp.gate_proj.weight' has shape "
                       "[80, 48], but parameter 'model.layers.0.mlp.gate_proj.weight' "
                       "has shape [96, 48]"));
  EXPECT_TRUE(other_opt.state().empty()) << "nothing is set when a check fails";

  auto untied = config;
  untied.tie_word_embeddings = false;
  model::Qwen3ForCausalLM with_head(untied);
  auto head_opt = make_adamw(with_head);
  message = data_error_of([&] { load_adamw_state(head_opt, with_head->named_parameters(), path); });
  EXPECT_TRUE(Contains(message, path + ": no optimizer state for parameter 'lm_head.weight'"));

  // One moment missing.
  io::NamedTensors partial;
  for (const auto& p : m->named_parameters()) {
    partial.emplace_back("step." + p.key(), torch::tensor(int64_t{1}));
    partial.emplace_back("exp_avg." + p.key(), torch::zeros_like(p.value()));
  }
  io::write_safetensors(dir / "partial.safetensors", partial);
  message = data_error_of(
      [&] { load_adamw_state(opt, m->named_parameters(), dir / "partial.safetensors"); });
  EXPECT_TRUE(Contains(message, "no tensor 'exp_avg_sq.model.embed_tokens.weight'"));

  message = data_error_of(
      [&] { load_adamw_state(opt, m->named_parameters(), dir / "missing.safetensors"); });
  EXPECT_TRUE(Contains(message, "does not exist: the checkpoint has no optimizer state"));

  // Truncated: the safetensors reader names the file.
  std::string bytes = io::testing::read_bytes(path);
  io::testing::write_bytes(dir / "cut.safetensors", bytes.substr(0, bytes.size() / 2));
  message =
      data_error_of([&] { load_adamw_state(opt, m->named_parameters(), dir / "cut.safetensors"); });
  EXPECT_TRUE(Contains(message, dir / "cut.safetensors"));
}

TEST(RngState, RestoredGeneratorRepeatsItsDraws) {
  TempDir dir;
  torch::manual_seed(3);
  torch::rand({4});
  save_rng_state(torch::Device(torch::kCPU), dir / "rng_state.safetensors");
  auto first = torch::rand({16});
  torch::rand({100});  // move on
  load_rng_state(torch::Device(torch::kCPU), dir / "rng_state.safetensors");
  EXPECT_TRUE(torch::equal(torch::rand({16}), first));
  std::string message = data_error_of(
      [&] { load_rng_state(torch::Device(torch::kCPU), dir / "missing.safetensors"); });
  EXPECT_TRUE(Contains(message, "has no RNG state"));
}

}  // namespace
}  // namespace fusebox::train
