// Reading valid configs: defaults, every key, files on disk, path resolution, round trip.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/train_config.h"
#include "config_test_util.h"
#include "util/error.h"
#include "util/remove_tree.h"

namespace fusebox::config {
namespace {

using testing::Contains;
using testing::error_of;
using testing::kMinimal;
using testing::parse;
namespace fs = std::filesystem;

// Compares every field; TrainConfig has no operator== (C++17 would need it by hand).
void expect_same(const TrainConfig& a, const TrainConfig& b) {
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.kernel_config.name, b.kernel_config.name);
  EXPECT_EQ(a.kernel_config.include_kernels, b.kernel_config.include_kernels);
  EXPECT_EQ(a.kernel_config.device, b.kernel_config.device);
  EXPECT_EQ(a.kernel_config.strict, b.kernel_config.strict);
  EXPECT_EQ(a.train_dataset, b.train_dataset);
  EXPECT_EQ(a.eval_dataset, b.eval_dataset);
  EXPECT_EQ(a.synthetic.max_digits, b.synthetic.max_digits);
  EXPECT_EQ(a.synthetic.train_size, b.synthetic.train_size);
  EXPECT_EQ(a.synthetic.eval_size, b.synthetic.eval_size);
  EXPECT_EQ(a.tokenizer, b.tokenizer);
  EXPECT_EQ(a.text_field, b.text_field);
  EXPECT_EQ(a.packing, b.packing);
  EXPECT_EQ(a.output_dir, b.output_dir);
  EXPECT_EQ(a.micro_batch_size, b.micro_batch_size);
  EXPECT_EQ(a.gradient_accumulation_steps, b.gradient_accumulation_steps);
  EXPECT_EQ(a.cutoff_len, b.cutoff_len);
  EXPECT_EQ(a.learning_rate, b.learning_rate);
  EXPECT_EQ(a.max_steps, b.max_steps);
  EXPECT_EQ(a.num_train_epochs, b.num_train_epochs);
  EXPECT_EQ(a.warmup_steps, b.warmup_steps);
  EXPECT_EQ(a.lr_scheduler_type, b.lr_scheduler_type);
  EXPECT_EQ(a.weight_decay, b.weight_decay);
  EXPECT_EQ(a.adam_beta1, b.adam_beta1);
  EXPECT_EQ(a.adam_beta2, b.adam_beta2);
  EXPECT_EQ(a.adam_epsilon, b.adam_epsilon);
  EXPECT_EQ(a.max_grad_norm, b.max_grad_norm);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.logging_steps, b.logging_steps);
  EXPECT_EQ(a.eval_steps, b.eval_steps);
  EXPECT_EQ(a.bf16, b.bf16);
  EXPECT_EQ(a.threads, b.threads);
  EXPECT_EQ(a.log_level, b.log_level);
  EXPECT_EQ(a.save_steps, b.save_steps);
  EXPECT_EQ(a.save_total_limit, b.save_total_limit);
  EXPECT_EQ(a.resume_from_checkpoint, b.resume_from_checkpoint);
  EXPECT_EQ(a.overwrite_output_dir, b.overwrite_output_dir);
  EXPECT_EQ(a.run_name, b.run_name);
  EXPECT_EQ(a.progress_bar, b.progress_bar);
}

const std::string kFull = R"(# every key, none at its default
model: models/qwen3-tiny/config.json
kernel_config:
  name: auto
  include_kernels: cpu_fused_rmsnorm, cpu_fused_swiglu
  device: cpu
  strict: true
train_dataset: builtin:addition
eval_dataset: builtin:addition
synthetic:
  max_digits: 4
  train_size: 1000
  eval_size: 64
tokenizer: models/qwen3/tokenizer.json
text_field: content
packing: true
output_dir: runs/full
micro_batch_size: 16
gradient_accumulation_steps: 4
cutoff_len: 64
learning_rate: 3e-4
max_steps: 200
num_train_epochs: 2.5
warmup_steps: 10
lr_scheduler_type: linear
weight_decay: 0.01
adam_beta1: 0.8
adam_beta2: 0.95
adam_epsilon: 1.0e-6
max_grad_norm: 0.5
seed: 7
logging_steps: 5
eval_steps: 50
bf16: true
threads: 2
log_level: debug
save_steps: 100
save_total_limit: 3
resume_from_checkpoint: runs/full/checkpoint-100
overwrite_output_dir: true
run_name: full run
progress_bar: false
)";

TEST(TrainConfig, OmittedKeysGetTheStructDefaults) {
  TrainConfig cfg = parse(kMinimal);
  TrainConfig expected;
  expected.model = "configs/tiny.json";
  expected.train_dataset = "builtin:addition";
  expect_same(cfg, expected);
  EXPECT_EQ(cfg.kernel_config.include_kernels, "false");
  EXPECT_EQ(cfg.threads, 0);
  EXPECT_EQ(cfg.tokenizer, "");
  EXPECT_EQ(cfg.text_field, "text");
  EXPECT_FALSE(cfg.packing);
}

TEST(TrainConfig, ReadsEveryKey) {
  TrainConfig cfg = parse(kFull);
  EXPECT_EQ(cfg.model, "models/qwen3-tiny/config.json");
  EXPECT_EQ(cfg.kernel_config.name, "auto");
  EXPECT_EQ(cfg.kernel_config.include_kernels, "cpu_fused_rmsnorm,cpu_fused_swiglu");
  EXPECT_EQ(cfg.kernel_config.device, "cpu");
  EXPECT_TRUE(cfg.kernel_config.strict);
  EXPECT_EQ(cfg.eval_dataset, "builtin:addition");
  EXPECT_EQ(cfg.synthetic.max_digits, 4);
  EXPECT_EQ(cfg.synthetic.train_size, 1000);
  EXPECT_EQ(cfg.synthetic.eval_size, 64);
  EXPECT_EQ(cfg.tokenizer, "models/qwen3/tokenizer.json");
  EXPECT_EQ(cfg.text_field, "content");
  EXPECT_TRUE(cfg.packing);
  EXPECT_EQ(cfg.output_dir, "runs/full");
  EXPECT_EQ(cfg.micro_batch_size, 16);
  EXPECT_EQ(cfg.gradient_accumulation_steps, 4);
  EXPECT_EQ(cfg.cutoff_len, 64);
  EXPECT_DOUBLE_EQ(cfg.learning_rate, 3e-4);
  EXPECT_EQ(cfg.max_steps, 200);
  EXPECT_DOUBLE_EQ(cfg.num_train_epochs, 2.5);
  EXPECT_EQ(cfg.warmup_steps, 10);
  EXPECT_EQ(cfg.lr_scheduler_type, "linear");
  EXPECT_DOUBLE_EQ(cfg.weight_decay, 0.01);
  EXPECT_DOUBLE_EQ(cfg.adam_beta1, 0.8);
  EXPECT_DOUBLE_EQ(cfg.adam_beta2, 0.95);
  EXPECT_DOUBLE_EQ(cfg.adam_epsilon, 1e-6);
  EXPECT_DOUBLE_EQ(cfg.max_grad_norm, 0.5);
  EXPECT_EQ(cfg.seed, 7);
  EXPECT_EQ(cfg.logging_steps, 5);
  EXPECT_EQ(cfg.eval_steps, 50);
  EXPECT_TRUE(cfg.bf16);
  EXPECT_EQ(cfg.threads, 2);
  EXPECT_EQ(cfg.log_level, "debug");
  EXPECT_EQ(cfg.save_steps, 100);
  EXPECT_EQ(cfg.save_total_limit, 3);
  EXPECT_EQ(cfg.resume_from_checkpoint, "runs/full/checkpoint-100");
  EXPECT_TRUE(cfg.overwrite_output_dir);
  EXPECT_EQ(cfg.run_name, "full run");
  EXPECT_EQ(cfg.progress_bar, "false");
}

TEST(TrainConfig, ResumeFromCheckpointSpellings) {
  // transformers' `true` means the newest checkpoint in output_dir; false/null mean none.
  EXPECT_EQ(parse(kMinimal + "resume_from_checkpoint: true\n").resume_from_checkpoint, "latest");
  EXPECT_EQ(parse(kMinimal + "resume_from_checkpoint: latest\n").resume_from_checkpoint, "latest");
  EXPECT_EQ(parse(kMinimal + "resume_from_checkpoint: false\n").resume_from_checkpoint, "");
  EXPECT_EQ(parse(kMinimal + "resume_from_checkpoint:\n").resume_from_checkpoint, "");
  EXPECT_EQ(parse(kMinimal, {"resume_from_checkpoint=out/checkpoint-20"}).resume_from_checkpoint,
            "out/checkpoint-20");
  EXPECT_EQ(parse(kMinimal + "save_total_limit: null\n").save_total_limit, 0);
  EXPECT_EQ(parse(kMinimal + "progress_bar: true\n").progress_bar, "true");
}

TEST(TrainConfig, LenientWhereTheValueIsUnambiguous) {
  TrainConfig cfg = parse(kMinimal +
                          "kernel_config:\n"  // null: every kernel_config default
                          "eval_dataset: ~\n"
                          "learning_rate: 1\n"  // an integer is a fine number
                          "max_steps: +20\n"
                          "bf16: TRUE\n"
                          "threads: Auto\n"
                          "micro_batch_size: '4'\n");  // quoted, but entirely an integer
  EXPECT_EQ(cfg.kernel_config.include_kernels, "false");
  EXPECT_EQ(cfg.eval_dataset, "");
  EXPECT_DOUBLE_EQ(cfg.learning_rate, 1.0);
  EXPECT_EQ(cfg.max_steps, 20);
  EXPECT_TRUE(cfg.bf16);
  EXPECT_EQ(cfg.threads, 0);
  EXPECT_EQ(cfg.micro_batch_size, 4);
}

TEST(TrainConfig, BoundaryValuesAreAccepted) {
  TrainConfig cfg = parse(kMinimal +
                          "micro_batch_size: 1\ncutoff_len: 2\nmax_steps: -1\n"
                          "warmup_steps: 0\nweight_decay: 0\nmax_grad_norm: 0\n"
                          "adam_beta1: 0\nadam_beta2: 0.999999\neval_steps: 0\n"
                          "threads: 1\nseed: -3\nsynthetic: {max_digits: 18}\n");
  EXPECT_EQ(cfg.cutoff_len, 2);
  EXPECT_EQ(cfg.max_steps, -1);
  EXPECT_EQ(cfg.threads, 1);
  EXPECT_EQ(cfg.seed, -3);
  EXPECT_EQ(cfg.synthetic.max_digits, 18);
}

TEST(TrainConfig, SourcePathAndConfigDirComeFromTheSourceName) {
  TrainConfig nested = parse_train_config(kMinimal, "configs/sub/train.yaml");
  EXPECT_EQ(nested.source_path, "configs/sub/train.yaml");
  EXPECT_EQ(nested.config_dir, "configs/sub");
  TrainConfig bare = parse_train_config(kMinimal, "train.yaml");
  EXPECT_EQ(bare.config_dir, "");
}

TEST(TrainConfig, EmptyDocumentNeedsOnlyTheRequiredKeysFromOverrides) {
  TrainConfig cfg = parse("", {"model=m.json", "train_dataset=builtin:addition"});
  EXPECT_EQ(cfg.model, "m.json");
  EXPECT_EQ(cfg.train_dataset, "builtin:addition");
}

TEST(TrainConfig, ToYamlReadsBackToTheSameConfig) {
  TrainConfig full = parse(kFull);
  expect_same(parse(to_yaml(full)), full);
  TrainConfig minimal = parse(kMinimal);
  expect_same(parse(to_yaml(minimal)), minimal);
  // Values that would change type if written unquoted.
  TrainConfig odd = parse(kMinimal, {"model='1e3'", "output_dir='null'", "learning_rate=0.1"});
  TrainConfig back = parse(to_yaml(odd));
  EXPECT_EQ(back.model, "1e3");
  EXPECT_EQ(back.output_dir, "null");
  EXPECT_EQ(back.learning_rate, 0.1);
}

// A scratch directory under the system temp dir, removed with the test.
class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("fusebox_config_") + info->name());
    ::fusebox::remove_tree(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { ::fusebox::remove_tree(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  fs::path dir_;
};

TEST_F(ConfigFile, LoadReadsTheFileAndRecordsWhereItCameFrom) {
  std::string path = write("train.yaml", kMinimal + "max_steps: 5\n");
  TrainConfig cfg = load_train_config(path, {"max_steps=9"});
  EXPECT_EQ(cfg.max_steps, 9);
  EXPECT_EQ(cfg.source_path, path);
  EXPECT_EQ(cfg.config_dir, dir_.string());
}

TEST_F(ConfigFile, LoadErrorsNameTheFilePathAndLine) {
  std::string path = write("bad.yaml", kMinimal + "max_steps: soon\n");
  try {
    load_train_config(path);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(Contains(e.what(), path + ":3: max_steps: expected an integer, got 'soon'"));
  }
}

TEST_F(ConfigFile, MissingFileOrDirectoryIsAnError) {
  std::string missing = (dir_ / "nope.yaml").string();
  try {
    load_train_config(missing);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(Contains(e.what(), "config file '" + missing + "' not found"));
  }
  try {
    load_train_config(dir_.string());
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(Contains(e.what(), "is a directory"));
  }
}

TEST_F(ConfigFile, ResolvePathPrefersTheConfigDirectory) {
  write("model/config.json", "{}");
  TrainConfig cfg = load_train_config(write("train.yaml", kMinimal));
  EXPECT_EQ(resolve_path(cfg, "model/config.json"), (dir_ / "model/config.json").string());
  // Not next to the config: left relative to the working directory.
  EXPECT_EQ(resolve_path(cfg, "elsewhere/config.json"), "elsewhere/config.json");
  EXPECT_EQ(resolve_path(cfg, "/abs/config.json"), "/abs/config.json");
  TrainConfig inline_cfg = parse(kMinimal);  // config_dir ""
  EXPECT_EQ(resolve_path(inline_cfg, "model/config.json"), "model/config.json");
}

}  // namespace
}  // namespace fusebox::config
