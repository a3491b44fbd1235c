// End to end: checkpoints and resume. A run resumed from a checkpoint continues exactly as
// the uninterrupted run (same losses to 1e-6, same final weights), with kernels off and on;
// metrics.jsonl continues; checkpoints are pruned to save_total_limit; a damaged or
// mismatched checkpoint is a clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "config/train_config.h"
#include "io/safetensors_reader.h"
#include "train/checkpoint_dirs.h"
#include "train/trainer.h"
#include "unit/io/io_test_util.h"
#include "util/error.h"
#include "util/remove_tree.h"

namespace fusebox::test {
namespace {

namespace fs = std::filesystem;
using io::testing::Contains;
using io::testing::TempDir;
using json = nlohmann::json;

// 12 steps of 2 micro-batches over 100 examples (6 micro-batches an epoch): the data wraps
// into a new epoch four times, and the checkpoint at step 5 sits mid-epoch (epoch 1, batch 4)
// and mid logging window (logging every 2 steps).
config::TrainConfig run_config(const std::string& output_dir, const std::string& kernels,
                               std::vector<std::string> extra = {}) {
  std::vector<std::string> overrides = {
      "max_steps=12", "warmup_steps=2", "logging_steps=2", "eval_steps=4", "save_steps=5",
      "synthetic.train_size=100", "synthetic.eval_size=16", "micro_batch_size=16",
      "gradient_accumulation_steps=2", "kernel_config.include_kernels=" + kernels, "log_level=warn",
      "progress_bar=false", "output_dir=" + output_dir,
      // Not the demo config's: keep every checkpoint, never delete an earlier run's.
      "save_total_limit=0", "overwrite_output_dir=false"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return config::load_train_config(std::string(FUSEBOX_SOURCE_DIR) + "/configs/qwen3.yaml",
                                   overrides);
}

std::vector<json> metrics_of(const std::string& output_dir) {
  std::ifstream in(fs::path(output_dir) / "metrics.jsonl");
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(json::parse(line));
  return lines;
}

// Largest |a - b| over the values of `key` in lines that have it; the lines must agree on
// which steps they cover.
double max_metric_diff(const std::vector<json>& a, const std::vector<json>& b,
                       const std::string& key) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    EXPECT_EQ(a[i]["step"], b[i]["step"]) << "line " << i + 1;
    EXPECT_EQ(a[i].contains(key), b[i].contains(key)) << "line " << i + 1;
    if (a[i].contains(key) && b[i].contains(key))
      diff = std::max(diff, std::abs(a[i][key].get<double>() - b[i][key].get<double>()));
  }
  return diff;
}

double max_weight_diff(const std::string& dir_a, const std::string& dir_b) {
  auto a = io::load_safetensors(dir_a + "/model.safetensors");
  auto b = io::load_safetensors(dir_b + "/model.safetensors");
  EXPECT_EQ(a.size(), b.size());
  double diff = 0;
  for (const auto& [name, t] : a)
    diff = std::max(diff, (t - b.at(name)).abs().max().item<double>());
  return diff;
}

// "kernels" or "kernels+bf16": the latter trains in bf16 with fp32 masters (whose moments and
// weights the checkpoint must carry exactly) and activation checkpointing.
struct ResumeCase {
  std::string kernels;
  std::vector<std::string> extra;
};
ResumeCase resume_case(const std::string& param) {
  auto plus = param.find('+');
  if (plus == std::string::npos) return {param, {}};
  return {param.substr(0, plus), {"bf16=true", "enable_activation_checkpointing=true"}};
}

class ResumeExactly : public ::testing::TestWithParam<std::string> {};

TEST_P(ResumeExactly, ContinuesAsTheUninterruptedRun) {
  TempDir tmp;
  ResumeCase rc = resume_case(GetParam());
  auto full = train::run_training(run_config(tmp / "full", rc.kernels, rc.extra));
  ASSERT_EQ(full.steps.size(), 12u);
  for (int step : {5, 10, 12})
    EXPECT_TRUE(fs::exists(train::checkpoint_path(tmp / "full", step) + "/trainer_state.json"));

  auto resume_extra = rc.extra;
  resume_extra.push_back("resume_from_checkpoint=" + (tmp / "full/checkpoint-5"));
  auto resumed = train::run_training(run_config(tmp / "resumed", rc.kernels, resume_extra));
  EXPECT_EQ(resumed.resumed_from, tmp / "full/checkpoint-5");
  ASSERT_EQ(resumed.steps.size(), 7u);
  double max_loss_diff = 0;
  for (size_t i = 0; i < 7; ++i) {
    const auto& a = full.steps[i + 5];
    const auto& b = resumed.steps[i];
    EXPECT_EQ(b.step, a.step);
    EXPECT_EQ(b.lr, a.lr) << "the schedule continues at step " << a.step;
    EXPECT_NEAR(b.grad_norm, a.grad_norm, 1e-6) << "step " << a.step;
    max_loss_diff = std::max(max_loss_diff, std::abs(b.loss - a.loss));
  }
  std::cout << "[ resume  ] kernels=" << GetParam()
            << ": max |loss diff| over steps 6-12 = " << max_loss_diff << "\n";
  EXPECT_LE(max_loss_diff, 1e-6);
  EXPECT_LE(max_weight_diff(tmp / "full", tmp / "resumed"), 1e-6);

  // metrics.jsonl of the resumed run starts from the checkpoint's history and then matches
  // the uninterrupted run's line for line (the logged loss at step 6 averages steps 5 and 6,
  // across the resume).
  auto a = metrics_of(tmp / "full"), b = metrics_of(tmp / "resumed");
  EXPECT_LE(max_metric_diff(a, b, "loss"), 1e-6);
  EXPECT_LE(max_metric_diff(a, b, "eval_loss"), 1e-6);
  EXPECT_LE(max_metric_diff(a, b, "learning_rate"), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Kernels, ResumeExactly, ::testing::Values("false", "auto", "auto+bf16"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (auto& c : name)
                             if (c == '+') c = '_';
                           return name;
                         });

TEST(Resume, InTheSameOutputDirReplacesTheAbandonedSteps) {
  TempDir tmp;
  std::string out = tmp / "run";
  train::run_training(run_config(out, "auto"));
  auto before = metrics_of(out);
  // Resume from the older checkpoint, as after a crash whose later checkpoints are unwanted.
  auto resumed = train::run_training(
      run_config(out, "auto", {"resume_from_checkpoint=" + out + "/checkpoint-5"}));
  ASSERT_EQ(resumed.steps.size(), 7u);
  auto after = metrics_of(out);
  EXPECT_LE(max_metric_diff(before, after, "loss"), 1e-6) << "no duplicated or missing lines";
  std::vector<int64_t> steps;
  for (const auto& c : train::list_checkpoints(out))
    steps.push_back(c.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{5, 10, 12}));

  // latest is checkpoint-12, the last step: nothing left to train, the model is published.
  auto again = train::run_training(run_config(out, "auto", {"resume_from_checkpoint=latest"}));
  EXPECT_EQ(again.resumed_from, train::checkpoint_path(out, 12));
  EXPECT_TRUE(again.steps.empty());
  EXPECT_EQ(metrics_of(out).size(), after.size());
  EXPECT_TRUE(fs::exists(out + "/model.safetensors"));
}

TEST(Checkpoints, SaveTotalLimitFinalModelAndArtifacts) {
  TempDir tmp;
  std::string out = tmp / "run";
  auto result = train::run_training(run_config(
      out, "auto",
      {"max_steps=7", "save_steps=2", "save_total_limit=2", "logging_steps=1", "eval_steps=0"}));
  std::vector<int64_t> steps;
  for (const auto& c : train::list_checkpoints(out))
    steps.push_back(c.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{6, 7}));
  EXPECT_EQ(result.last_checkpoint, train::checkpoint_path(out, 7));
  for (const char* name : {"config.json", "model.safetensors", "optimizer.safetensors",
                           "rng_state.safetensors", "trainer_state.json", "training_config.yaml"})
    EXPECT_TRUE(fs::exists(fs::path(out) / "checkpoint-7" / name)) << name;
  // The final model in output_dir itself is the checkpoint's, byte for byte.
  EXPECT_EQ(io::testing::read_bytes(out + "/model.safetensors"),
            io::testing::read_bytes(out + "/checkpoint-7/model.safetensors"));
  EXPECT_TRUE(fs::exists(out + "/config.json"));

  auto lines = metrics_of(out);
  int train_lines = 0, eval_lines = 0;
  for (const auto& l : lines) {
    if (l.contains("loss")) ++train_lines;
    if (l.contains("eval_loss")) ++eval_lines;
  }
  EXPECT_EQ(train_lines, 7);
  EXPECT_EQ(eval_lines, 2);  // before and after training
  auto state = json::parse(io::testing::read_bytes(out + "/checkpoint-7/trainer_state.json"));
  EXPECT_EQ(state["log_history"].size(), lines.size());
  EXPECT_EQ(state["global_step"], 7);

  std::string svg = io::testing::read_bytes(out + "/loss_curve.svg");
  EXPECT_NE(svg.find("<polyline class=\"train\""), std::string::npos);
  EXPECT_NE(svg.find(">run</text>"), std::string::npos) << "titled with the run's name";
}

// One short run whose final checkpoint the error cases below damage, each in a copy.
class DamagedCheckpoint : public ::testing::Test {
 protected:
  // TempDir names itself after the running test, which a suite set-up does not have.
  static void SetUpTestSuite() {
    root_ = new std::string(
        (fs::temp_directory_path() / ("fusebox_damaged_" + std::to_string(::getpid()))).string());
    ::fusebox::remove_tree(*root_);
    train::run_training(
        run_config(*root_ + "/base", "false", {"max_steps=3", "save_steps=0", "eval_dataset="}));
  }
  static void TearDownTestSuite() {
    ::fusebox::remove_tree(*root_);
    delete root_;
    root_ = nullptr;
  }
  static std::string at(const std::string& name) { return *root_ + "/" + name; }
  // A copy of the checkpoint to damage, and the error resuming from it gives.
  std::string copy(const std::string& name) {
    std::string dir = at(name);
    fs::copy(at("base/checkpoint-3"), dir, fs::copy_options::recursive);
    return dir;
  }
  std::string resume_error(const std::string& checkpoint, std::vector<std::string> extra = {}) {
    extra.push_back("resume_from_checkpoint=" + checkpoint);
    extra.push_back("eval_dataset=");
    try {
      train::run_training(run_config(at("out"), "false", extra));
    } catch (const Error& e) {
      return e.what();
    }
    return "<no fusebox::Error thrown>";
  }
  static std::string* root_;
};
std::string* DamagedCheckpoint::root_ = nullptr;

TEST_F(DamagedCheckpoint, TruncatedWeights) {
  std::string dir = copy("truncated");
  std::string weights = dir + "/model.safetensors";
  fs::resize_file(weights, fs::file_size(weights) / 2);
  EXPECT_TRUE(Contains(resume_error(dir), weights));
}

TEST_F(DamagedCheckpoint, BadTrainerStateJson) {
  std::string dir = copy("bad_json");
  std::ofstream(dir + "/trainer_state.json") << "{\"global_step\": 3,";
  EXPECT_TRUE(Contains(resume_error(dir), dir + "/trainer_state.json: not valid JSON"));
}

TEST_F(DamagedCheckpoint, MissingOrTruncatedOptimizerState) {
  std::string dir = copy("no_optimizer");
  fs::remove(dir + "/optimizer.safetensors");
  std::string message = resume_error(dir);
  EXPECT_TRUE(Contains(message, "checkpoint '" + dir + "' has no optimizer.safetensors"));
  EXPECT_TRUE(Contains(message, "use model=" + dir));

  std::string cut = copy("cut_optimizer");
  fs::resize_file(cut + "/optimizer.safetensors", 100);
  EXPECT_TRUE(Contains(resume_error(cut), cut + "/optimizer.safetensors"));
}

TEST_F(DamagedCheckpoint, OtherModelShapeNamesTensorAndShapes) {
  std::string dir = copy("other_model");
  auto config = json::parse(io::testing::read_bytes(std::string(FUSEBOX_SOURCE_DIR) +
                                                    "/configs/models/qwen3-tiny/config.json"));
  config["intermediate_size"] = 256;
  std::string wide = at("wide.json");
  std::ofstream(wide) << config.dump();
  std::string message = resume_error(dir, {"model=" + wide});
  EXPECT_TRUE(Contains(message,
                       "tensor 'model.layers.0.mlp.down_proj.weight' has shape "
                       "[128, 384], but the model built from its config expects "
                       "[128, 256]"));
}

TEST_F(DamagedCheckpoint, MissingDirectoryAndNoCheckpointForLatest) {
  std::string missing = at("nowhere/checkpoint-9");
  EXPECT_TRUE(
      Contains(resume_error(missing), "resume_from_checkpoint: '" + missing + "' does not exist"));
  EXPECT_TRUE(Contains(resume_error("latest", {"output_dir=" + (at("empty"))}),
                       "resume_from_checkpoint: latest: output_dir"));
  // A fresh run into the earlier run's output_dir is refused (not silently mixed in).
  try {
    train::run_training(run_config(at("base"), "false", {"max_steps=3"}));
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(Contains(e.what(), "already holds checkpoints (checkpoint-3)"));
  }
}

}  // namespace
}  // namespace fusebox::test
