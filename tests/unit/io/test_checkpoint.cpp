// Hugging Face model directories: save a small Qwen3, load it into a differently seeded one,
// and every way a directory can disagree with the model.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "io/checkpoint.h"
#include "io/hf_config.h"
#include "io/safetensors_index.h"
#include "io/safetensors_reader.h"
#include "io/safetensors_writer.h"
#include "io_test_util.h"
#include "model/qwen3.h"

namespace fusebox::io::testing {
namespace {

model::Qwen3ForCausalLM make_model(const model::Qwen3Config& config, uint64_t seed) {
  torch::manual_seed(seed);
  return model::Qwen3ForCausalLM(config);
}

// Every parameter of `a` equals (bit for bit) the one of the same name in `b`.
::testing::AssertionResult same_parameters(const model::Qwen3ForCausalLM& a,
                                           const model::Qwen3ForCausalLM& b) {
  auto pa = a->named_parameters(), pb = b->named_parameters();
  if (pa.size() != pb.size()) return ::testing::AssertionFailure() << "parameter counts differ";
  for (const auto& p : pa) {
    const auto* q = pb.find(p.key());
    if (q == nullptr) return ::testing::AssertionFailure() << "no " << p.key();
    if (!torch::equal(p.value(), *q)) return ::testing::AssertionFailure() << p.key() << " differs";
  }
  return ::testing::AssertionSuccess();
}

// Rewrites dir/model.safetensors with `edit` applied to its tensors.
void edit_weights(const std::string& dir, const std::function<void(NamedTensors&)>& edit) {
  auto path = dir + "/model.safetensors";
  NamedTensors tensors;
  for (auto& [name, t] : load_safetensors(path))
    tensors.emplace_back(name, t);
  edit(tensors);
  write_safetensors(path, tensors);
}

class CheckpointRoundTrip : public ::testing::TestWithParam<bool> {};

TEST_P(CheckpointRoundTrip, SaveThenLoadIntoDifferentlySeededModel) {
  TempDir tmp;
  auto config = small_config(/*tied=*/GetParam());
  auto saved = make_model(config, 1);
  save_hf_checkpoint(saved, tmp / "ckpt");
  EXPECT_TRUE(has_weights(tmp / "ckpt"));
  EXPECT_EQ(find_model_weights(tmp / "ckpt"), tmp / "ckpt/model.safetensors");
  EXPECT_EQ(SafetensorsFile(tmp / "ckpt/model.safetensors").contains("lm_head.weight"),
            !GetParam());  // transformers does not store the tied copy

  auto loaded = make_model(config, 2);
  ASSERT_FALSE(same_parameters(saved, loaded));
  load_hf_weights(loaded, tmp / "ckpt");
  EXPECT_TRUE(same_parameters(saved, loaded));

  // config.json describes the same model.
  auto back = read_hf_config(tmp / "ckpt/config.json");
  EXPECT_EQ(back.describe(), config.describe());
  EXPECT_EQ(back.rope_theta, config.rope_theta);
  EXPECT_EQ(back.tie_word_embeddings, config.tie_word_embeddings);
  EXPECT_FALSE(fs::exists(tmp / ("ckpt.tmp-" + std::to_string(::getpid()))));
}

INSTANTIATE_TEST_SUITE_P(TiedAndUntied, CheckpointRoundTrip, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "tied" : "untied"; });

TEST(Checkpoint, MoeRoundTripKeepsPerExpertNames) {
  TempDir tmp;
  auto config = read_hf_config(std::string(FUSEBOX_SOURCE_DIR) +
                               "/configs/models/qwen3-moe-tiny/config.json");
  ASSERT_TRUE(config.is_moe());
  auto saved = make_model(config, 1);
  save_hf_checkpoint(saved, tmp / "ckpt");
  // transformers 5 fuses experts in memory but saves (and loads) one tensor per expert.
  SafetensorsFile file(tmp / "ckpt/model.safetensors");
  EXPECT_TRUE(file.contains("model.layers.1.mlp.experts.7.down_proj.weight"));
  EXPECT_TRUE(file.contains("model.layers.1.mlp.gate.weight"));
  auto loaded = make_model(config, 2);
  load_hf_weights(loaded, tmp / "ckpt");
  EXPECT_TRUE(same_parameters(saved, loaded));
  auto back = read_hf_config(tmp / "ckpt/config.json");
  EXPECT_EQ(back.describe(), config.describe());
  EXPECT_EQ(back.num_experts, config.num_experts);
  EXPECT_EQ(back.mlp_only_layers, config.mlp_only_layers);
}

TEST(Checkpoint, Bf16StorageRoundTrip) {
  TempDir tmp;
  auto config = small_config(false);
  auto saved = make_model(config, 1);
  CheckpointSaveOptions options;
  options.dtype = torch::kBFloat16;
  save_hf_checkpoint(saved, tmp / "ckpt", options);
  SafetensorsFile file(tmp / "ckpt/model.safetensors");
  for (const auto& t : file.header().tensors)
    EXPECT_EQ(t.dtype, "BF16") << t.name;
  EXPECT_TRUE(Contains(read_bytes(tmp / "ckpt/config.json"), "\"torch_dtype\": \"bfloat16\""));

  // Into an fp32 model: the bf16-rounded values. Into a bf16 model: exactly what was stored.
  auto loaded = make_model(config, 2);
  load_hf_weights(loaded, tmp / "ckpt");
  auto bf16_model = make_model(config, 3);
  bf16_model->to(torch::kBFloat16);
  load_hf_weights(bf16_model, tmp / "ckpt");
  for (const auto& p : saved->named_parameters()) {
    auto rounded = p.value().to(torch::kBFloat16);
    EXPECT_TRUE(torch::equal(loaded->named_parameters()[p.key()], rounded.to(torch::kFloat32)))
        << p.key();
    EXPECT_TRUE(torch::equal(bf16_model->named_parameters()[p.key()], rounded)) << p.key();
  }
}

TEST(Checkpoint, ShardedSaveAndLoad) {
  TempDir tmp;
  auto config = small_config(false);
  auto saved = make_model(config, 1);
  CheckpointSaveOptions options;
  options.max_shard_bytes = 20'000;  // the model is ~90 kB in fp32: several shards
  save_hf_checkpoint(saved, tmp / "ckpt", options);
  EXPECT_FALSE(fs::exists(tmp / "ckpt/model.safetensors"));
  EXPECT_EQ(find_model_weights(tmp / "ckpt"), tmp / "ckpt/model.safetensors.index.json");
  SafetensorsSet set(tmp / "ckpt/model.safetensors.index.json");
  EXPECT_GT(set.files().size(), 3u);
  EXPECT_TRUE(fs::exists(tmp / ("ckpt/" + safetensors_shard_name(0, set.files().size()))));
  auto loaded = make_model(config, 2);
  load_hf_weights(loaded, tmp / "ckpt");
  EXPECT_TRUE(same_parameters(saved, loaded));
}

TEST(Checkpoint, MissingTensorsAreListedAndCounted) {
  TempDir tmp;
  auto config = small_config(false);
  config.num_hidden_layers = 3;  // 3 x 11 layer tensors: enough to be cut at 10
  save_hf_checkpoint(make_model(config, 1), tmp / "ckpt");
  edit_weights(tmp / "ckpt", [](NamedTensors& t) {
    t.erase(
        std::remove_if(t.begin(), t.end(),
                       [](const auto& p) { return p.first.find("layers.") != std::string::npos; }),
        t.end());
  });
  auto loaded = make_model(config, 2);
  auto msg = data_error_of([&] { load_hf_weights(loaded, tmp / "ckpt"); });
  EXPECT_TRUE(Contains(msg, tmp / "ckpt/model.safetensors: the weights do not match the model"));
  EXPECT_TRUE(Contains(msg, "missing 33 tensors: 'model.layers.0."));
  EXPECT_TRUE(Contains(msg, " and 23 more"));
  EXPECT_FALSE(Contains(msg, "unexpected"));
}

TEST(Checkpoint, UnexpectedTensorsAreListed) {
  TempDir tmp;
  auto config = small_config(false);
  save_hf_checkpoint(make_model(config, 1), tmp / "ckpt");
  edit_weights(tmp / "ckpt", [](NamedTensors& t) {
    t.emplace_back("model.layers.9.mlp.gate_proj.weight", torch::zeros({2}));
    t.emplace_back("model.layers.0.self_attn.rotary_emb.inv_freq", torch::zeros({8}));  // ignored
  });
  auto msg = data_error_of([&] {
    auto m = make_model(config, 2);
    load_hf_weights(m, tmp / "ckpt");
  });
  EXPECT_TRUE(Contains(msg, "unexpected 1 tensors: 'model.layers.9.mlp.gate_proj.weight'"));
}

TEST(Checkpoint, RotaryInvFreqAndTiedLmHeadAreIgnored) {
  TempDir tmp;
  auto config = small_config(true);
  auto saved = make_model(config, 1);
  save_hf_checkpoint(saved, tmp / "ckpt");
  edit_weights(tmp / "ckpt", [](NamedTensors& t) {
    t.emplace_back("model.layers.1.self_attn.rotary_emb.inv_freq", torch::zeros({8}));
    t.emplace_back("lm_head.weight", torch::zeros({97, 48}));  // transformers <4.x did this
  });
  auto loaded = make_model(config, 2);
  load_hf_weights(loaded, tmp / "ckpt");
  EXPECT_TRUE(same_parameters(saved, loaded));
}

TEST(Checkpoint, TiedCheckpointIntoUntiedModelExplains) {
  TempDir tmp;
  save_hf_checkpoint(make_model(small_config(true), 1), tmp / "ckpt");
  auto untied = make_model(small_config(false), 2);
  auto msg = data_error_of([&] { load_hf_weights(untied, tmp / "ckpt"); });
  EXPECT_TRUE(Contains(msg, "missing 1 tensors: 'lm_head.weight'"));
  EXPECT_TRUE(Contains(msg, "saved with tie_word_embeddings=true?"));
}

TEST(Checkpoint, ShapeMismatchNamesFileTensorAndBothShapes) {
  TempDir tmp;
  save_hf_checkpoint(make_model(small_config(false), 1), tmp / "ckpt");
  auto bigger = small_config(false);
  bigger.vocab_size = 100;
  auto loaded = make_model(bigger, 2);
  auto before = loaded->named_parameters()["model.norm.weight"].clone();
  auto msg = data_error_of([&] { load_hf_weights(loaded, tmp / "ckpt"); });
  EXPECT_TRUE(Contains(msg, "2 tensors disagree with the model"));
  EXPECT_TRUE(Contains(msg, tmp / "ckpt/model.safetensors: tensor 'model.embed_tokens.weight' "
                                  "has shape [97, 48], but the model built from its config "
                                  "expects [100, 48]"));
  EXPECT_TRUE(Contains(msg, "'lm_head.weight' has shape [97, 48]"));
  // Checked before the first copy: the model is untouched.
  EXPECT_TRUE(torch::equal(loaded->named_parameters()["model.norm.weight"], before));
}

TEST(Checkpoint, IntegerTensorForFloatParameterIsAnError) {
  TempDir tmp;
  auto config = small_config(true);
  save_hf_checkpoint(make_model(config, 1), tmp / "ckpt");
  edit_weights(tmp / "ckpt", [](NamedTensors& t) {
    for (auto& p : t)
      if (p.first == "model.norm.weight") p.second = torch::ones({48}, torch::kInt64);
  });
  auto m = make_model(config, 2);
  EXPECT_TRUE(Contains(data_error_of([&] { load_hf_weights(m, tmp / "ckpt"); }),
                       "tensor 'model.norm.weight' is I64, but the parameter is Float"));
}

TEST(Checkpoint, FindModelWeightsExplainsWhatIsThere) {
  TempDir tmp;
  EXPECT_TRUE(Contains(data_error_of([&] { find_model_weights(tmp / "nope"); }),
                       "does not exist or is not a directory"));
  EXPECT_FALSE(has_weights(tmp / "nope"));
  EXPECT_TRUE(Contains(data_error_of([&] { find_model_weights(tmp.path().string()); }),
                       "has no model weights; expected model.safetensors or "
                       "model.safetensors.index.json"));
  write_bytes(tmp / "pytorch_model.bin", "x");
  EXPECT_TRUE(Contains(data_error_of([&] { find_model_weights(tmp.path().string()); }),
                       "holds pytorch_model.bin but no safetensors weights"));
  EXPECT_FALSE(has_weights(tmp.path().string()));
}

}  // namespace
}  // namespace fusebox::io::testing
