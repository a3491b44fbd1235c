// Command-line overrides ("a.b.c=value"): applied before validation, so they meet the same
// checks as the file, and their errors name the override instead of file:line.
#include <gtest/gtest.h>

#include <string>

#include "config/train_config.h"
#include "config_test_util.h"

namespace fusebox::config {
namespace {

using testing::Contains;
using testing::error_of;
using testing::kMinimal;
using testing::Lacks;
using testing::parse;

const std::string kWithKernels = kMinimal +
                                 "kernel_config:\n"
                                 "  include_kernels: auto\n"
                                 "  device: cpu\n"
                                 "max_steps: 100\n";

TEST(Overrides, TopLevelScalars) {
  TrainConfig cfg = parse(kWithKernels, {"max_steps=20", "learning_rate=3e-4", "bf16=true",
                                         "lr_scheduler_type=constant", "threads=auto"});
  EXPECT_EQ(cfg.max_steps, 20);
  EXPECT_DOUBLE_EQ(cfg.learning_rate, 3e-4);
  EXPECT_TRUE(cfg.bf16);
  EXPECT_EQ(cfg.lr_scheduler_type, "constant");
  EXPECT_EQ(cfg.threads, 0);
}

TEST(Overrides, NestedKeyKeepsItsSiblings) {
  TrainConfig cfg = parse(kWithKernels, {"kernel_config.include_kernels=false"});
  EXPECT_EQ(cfg.kernel_config.include_kernels, "false");
  EXPECT_EQ(cfg.kernel_config.device, "cpu");  // from the file, untouched
}

TEST(Overrides, NestedKeyCreatesAMissingSection) {
  TrainConfig cfg = parse(kMinimal, {"kernel_config.device=cuda", "synthetic.max_digits=2"});
  EXPECT_EQ(cfg.kernel_config.device, "cuda");
  EXPECT_EQ(cfg.synthetic.max_digits, 2);
  EXPECT_EQ(cfg.synthetic.train_size, SyntheticConfig().train_size);
}

TEST(Overrides, CommaListIsAPlainString) {
  TrainConfig cfg =
      parse(kWithKernels, {"kernel_config.include_kernels=cpu_fused_rmsnorm,cpu_fused_swiglu"});
  EXPECT_EQ(cfg.kernel_config.include_kernels, "cpu_fused_rmsnorm,cpu_fused_swiglu");
}

TEST(Overrides, FlowCollectionsAreYaml) {
  TrainConfig cfg = parse(kMinimal, {"kernel_config={device: cpu, include_kernels: [a, b]}"});
  EXPECT_EQ(cfg.kernel_config.device, "cpu");
  EXPECT_EQ(cfg.kernel_config.include_kernels, "a,b");
}

TEST(Overrides, ValuesYamlWouldMisreadStayStrings) {
  TrainConfig cfg = parse(kMinimal, {"output_dir=runs/a: b", "eval_dataset=- x",
                                     "model=path/with=equals.json", "train_dataset= spaced "});
  EXPECT_EQ(cfg.output_dir, "runs/a: b");
  EXPECT_EQ(cfg.eval_dataset, "- x");
  EXPECT_EQ(cfg.model, "path/with=equals.json");  // split at the first '=' only
  EXPECT_EQ(cfg.train_dataset, "spaced");
}

TEST(Overrides, EmptyValueIsNull) {
  TrainConfig cfg = parse(kMinimal + "eval_dataset: builtin:addition\n",
                          {"eval_dataset=", "kernel_config.include_kernels="});
  EXPECT_EQ(cfg.eval_dataset, "");
  EXPECT_EQ(cfg.kernel_config.include_kernels, "false");
}

TEST(Overrides, LaterOverrideWins) {
  EXPECT_EQ(parse(kMinimal, {"max_steps=5", "max_steps=7"}).max_steps, 7);
  // A whole section set after one of its keys replaces it.
  TrainConfig cfg = parse(kMinimal, {"kernel_config.device=cuda", "kernel_config={strict: true}"});
  EXPECT_EQ(cfg.kernel_config.device, "auto");
  EXPECT_TRUE(cfg.kernel_config.strict);
}

TEST(Overrides, DoNotWriteThroughYamlAliases) {
  TrainConfig cfg = parse(kMinimal + "max_steps: &n 10\nlogging_steps: *n\n", {"max_steps=20"});
  EXPECT_EQ(cfg.max_steps, 20);
  EXPECT_EQ(cfg.logging_steps, 10);
}

TEST(Overrides, BadValueNamesTheOverrideNotTheFile) {
  std::string msg = error_of(kWithKernels, {"max_steps=abc"});
  EXPECT_TRUE(Contains(msg,
                       "command-line override 'max_steps=abc': max_steps: expected an "
                       "integer, got 'abc'"));
  EXPECT_TRUE(Lacks(msg, "train.yaml"));
  EXPECT_TRUE(Contains(error_of(kWithKernels, {"kernel_config.device=gpu"}),
                       "command-line override 'kernel_config.device=gpu': kernel_config.device: "
                       "expected one of auto, cpu, cuda"));
  EXPECT_TRUE(Contains(error_of(kMinimal, {"micro_batch_size=0"}),
                       "command-line override 'micro_batch_size=0': micro_batch_size: expected "
                       "an integer >= 1, got 0"));
}

TEST(Overrides, UnknownKeyGetsTheSameSuggestion) {
  std::string msg = error_of(kMinimal, {"learnig_rate=1e-3"});
  EXPECT_TRUE(Contains(msg,
                       "command-line override 'learnig_rate=1e-3': unknown key "
                       "'learnig_rate'; did you mean 'learning_rate'?"));
  std::string nested = error_of(kWithKernels, {"kernel_config.include_kernel=auto"});
  EXPECT_TRUE(Contains(nested,
                       "command-line override 'kernel_config.include_kernel=auto': "
                       "unknown key 'kernel_config.include_kernel'; did you mean "
                       "'kernel_config.include_kernels'?"));
  // The section itself misspelt: the new section is the unknown key.
  EXPECT_TRUE(Contains(error_of(kMinimal, {"kernel_confg.device=cpu"}),
                       "command-line override 'kernel_confg.device=cpu': unknown key "
                       "'kernel_confg'; did you mean 'kernel_config'?"));
}

TEST(Overrides, ReplacingASectionOrGoingIntoAScalarNamesTheOverride) {
  EXPECT_TRUE(Contains(error_of(kWithKernels, {"kernel_config=auto"}),
                       "command-line override 'kernel_config=auto': kernel_config: expected a "
                       "mapping"));
  EXPECT_TRUE(Contains(error_of(kWithKernels, {"max_steps.x=1"}),
                       "command-line override 'max_steps.x=1': max_steps: expected an integer, "
                       "got a mapping"));
}

TEST(Overrides, MalformedOverrides) {
  EXPECT_TRUE(Contains(error_of(kMinimal, {"max_steps"}),
                       "command-line override 'max_steps': expected KEY=VALUE"));
  EXPECT_TRUE(Contains(error_of(kMinimal, {"=5"}),
                       "command-line override '=5': the key before '=' is empty"));
  EXPECT_TRUE(Contains(error_of(kMinimal, {"kernel_config..device=cpu"}),
                       "command-line override 'kernel_config..device=cpu': malformed key"));
  EXPECT_TRUE(Contains(error_of(kMinimal, {"kernel_config.include_kernels=[a, b"}),
                       "command-line override 'kernel_config.include_kernels=[a, b': value is "
                       "not valid YAML"));
}

TEST(Overrides, FileErrorsStillNameTheFile) {
  std::string msg = error_of(kMinimal + "seed: x\n", {"max_steps=3"});
  EXPECT_TRUE(Contains(msg, "train.yaml:3: seed: expected an integer, got 'x'"));
  // A section an override walks into keeps the file's lines for the file's keys.
  std::string nested =
      error_of(kMinimal + "kernel_config:\n  device: gpu\n", {"kernel_config.strict=true"});
  EXPECT_TRUE(Contains(nested, "train.yaml:4: kernel_config.device"));
}

TEST(Overrides, CanSupplyAMissingRequiredKey) {
  EXPECT_EQ(parse("train_dataset: builtin:addition\n", {"model=m.json"}).model, "m.json");
  EXPECT_TRUE(Contains(error_of(kMinimal, {"model="}),
                       "command-line override 'model=': model: expected a config.json path"));
}

}  // namespace
}  // namespace fusebox::config
