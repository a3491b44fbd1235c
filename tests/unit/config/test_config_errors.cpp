// Every kind of config error, checked for what a user needs to fix the file from the message
// alone: the file, the line, the key path and what was expected.
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

TEST(ConfigErrors, UnknownKeySuggestsTheClosestAndListsKnownKeys) {
  std::string msg = error_of(kMinimal + "learnig_rate: 1e-3\n");
  EXPECT_TRUE(Contains(msg,
                       "train.yaml:3: unknown key 'learnig_rate'; did you mean "
                       "'learning_rate'?"));
  EXPECT_TRUE(Contains(msg, "Known top-level keys: model, kernel_config, train_dataset"));
}

TEST(ConfigErrors, UnknownNestedKeyNamesTheFullPath) {
  std::string msg = error_of(kMinimal + "kernel_config:\n  name: auto\n  nmae: auto\n");
  EXPECT_TRUE(Contains(msg,
                       "train.yaml:5: unknown key 'kernel_config.nmae'; did you mean "
                       "'kernel_config.name'?"));
  EXPECT_TRUE(Contains(msg, "Known keys in kernel_config: name, include_kernels, device, strict"));
}

TEST(ConfigErrors, UnknownKeyFarFromAnyKnownOneHasNoSuggestion) {
  std::string msg = error_of(kMinimal + "zzzzzzzz: 1\n");
  EXPECT_TRUE(Contains(msg, "train.yaml:3: unknown key 'zzzzzzzz'. Known top-level keys:"));
  EXPECT_TRUE(Lacks(msg, "did you mean"));
}

TEST(ConfigErrors, NestedKeyAtTheTopLevelPointsToItsSection) {
  EXPECT_TRUE(Contains(error_of(kMinimal + "include_kernels: auto\n"),
                       "did you mean 'kernel_config.include_kernels'?"));
  EXPECT_TRUE(
      Contains(error_of(kMinimal + "max_digits: 2\n"), "did you mean 'synthetic.max_digits'?"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "per_device_train_batch_size: 2\n"),
                       "did you mean 'micro_batch_size'?"));
}

TEST(ConfigErrors, WrongScalarTypes) {
  EXPECT_TRUE(Contains(error_of(kMinimal + "max_steps: abc\n"),
                       "train.yaml:3: max_steps: expected an integer, got 'abc'"));
  // Strict: the whole text must be the integer.
  EXPECT_TRUE(Contains(error_of(kMinimal + "micro_batch_size: 2.5\n"),
                       "micro_batch_size: expected an integer, got '2.5'"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "seed: 12abc\n"), "expected an integer, got '12abc'"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "seed: 0x10\n"), "expected an integer, got '0x10'"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "seed: 99999999999999999999\n"), "out of range"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "learning_rate: fast\n"),
                       "train.yaml:3: learning_rate: expected a number, got 'fast'"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "learning_rate: 1e-4x\n"), "expected a number"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "bf16: yes\n"),
                       "train.yaml:3: bf16: expected true or false, got 'yes'"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "kernel_config: {strict: 1}\n"),
                       "kernel_config.strict: expected true or false, got '1'"));
}

TEST(ConfigErrors, DataKeys) {
  EXPECT_TRUE(Contains(error_of(kMinimal + "packing: sometimes\n"),
                       "train.yaml:3: packing: expected true or false, got 'sometimes'"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "text_field: ''\n"),
                       "train.yaml:3: text_field: expected the JSONL key that holds the text"));
  EXPECT_TRUE(
      Contains(error_of(kMinimal + "dataset_text_field: content\n"), "did you mean 'text_field'?"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "tokenizer_name_or_path: tok.json\n"),
                       "did you mean 'tokenizer'?"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "tokeniser: tok.json\n"),
                       "unknown key 'tokeniser'; did you mean 'tokenizer'?"));
}

TEST(ConfigErrors, NullForANumberIsAnErrorAtTheKeysLine) {
  // yaml-cpp places a null value at the next token (the seed line); the key's line is right.
  std::string msg = error_of(kMinimal + "max_steps:\nseed: 1\n");
  EXPECT_TRUE(Contains(msg, "train.yaml:3: max_steps: expected an integer, got null"));
}

TEST(ConfigErrors, CollectionsWhereScalarsBelongAndViceVersa) {
  EXPECT_TRUE(Contains(error_of("model: [a, b]\ntrain_dataset: builtin:addition\n"),
                       "train.yaml:1: model: expected a string, got a sequence"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "max_steps: {a: 1}\n"),
                       "max_steps: expected an integer, got a mapping"));
  std::string msg = error_of(kMinimal + "kernel_config: auto\n");
  EXPECT_TRUE(Contains(msg,
                       "train.yaml:3: kernel_config: expected a mapping with keys name, "
                       "include_kernels, device, strict; got 'auto'"));
  EXPECT_TRUE(
      Contains(error_of(kMinimal + "synthetic: [1, 2]\n"), "synthetic: expected a mapping"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "? [a, b]\n: 1\n"), "expected a key name"));
}

struct OutOfRange {
  const char* yaml;
  const char* message;
};

class ConfigOutOfRange : public ::testing::TestWithParam<OutOfRange> {};

TEST_P(ConfigOutOfRange, NamesKeyLineAndRange) {
  const OutOfRange& c = GetParam();
  std::string msg = error_of(kMinimal + "seed: 1\n" + c.yaml + "\n");
  EXPECT_TRUE(Contains(msg, std::string("train.yaml:4: ") + c.message));
}

INSTANTIATE_TEST_SUITE_P(
    EveryBound, ConfigOutOfRange,
    ::testing::Values(
        OutOfRange{"micro_batch_size: 0", "micro_batch_size: expected an integer >= 1, got 0"},
        OutOfRange{"gradient_accumulation_steps: -2",
                   "gradient_accumulation_steps: expected an integer >= 1, got -2"},
        OutOfRange{"cutoff_len: 1", "cutoff_len: expected an integer >= 2, got 1"},
        OutOfRange{"learning_rate: 0", "learning_rate: expected a number > 0, got 0"},
        OutOfRange{"learning_rate: -1e-4", "learning_rate: expected a number > 0"},
        OutOfRange{"learning_rate: .inf", "learning_rate: expected a finite number, got '.inf'"},
        OutOfRange{"learning_rate: .nan", "learning_rate: expected a finite number"},
        OutOfRange{"warmup_steps: -1", "warmup_steps: expected an integer >= 0, got -1"},
        OutOfRange{"weight_decay: -0.1", "weight_decay: expected a number >= 0, got -0.1"},
        OutOfRange{"max_grad_norm: -1", "max_grad_norm: expected a number >= 0"},
        OutOfRange{"logging_steps: 0", "logging_steps: expected an integer >= 1, got 0"},
        OutOfRange{"eval_steps: -1", "eval_steps: expected an integer >= 0, got -1"},
        OutOfRange{"num_train_epochs: 0", "num_train_epochs: expected a number > 0, got 0"},
        OutOfRange{"max_steps: 0",
                   "max_steps: expected -1 (train for num_train_epochs) or an "
                   "integer >= 1, got 0"},
        OutOfRange{"max_steps: -2", "max_steps: expected -1"},
        OutOfRange{"adam_beta1: 1", "adam_beta1: expected a number in [0, 1), got 1"},
        OutOfRange{"adam_beta2: -0.5", "adam_beta2: expected a number in [0, 1), got -0.5"},
        OutOfRange{"adam_epsilon: 0", "adam_epsilon: expected a number > 0, got 0"},
        OutOfRange{"synthetic: {max_digits: 0}",
                   "synthetic.max_digits: expected an integer >= 1, got 0"},
        OutOfRange{"synthetic: {max_digits: 19}",
                   "synthetic.max_digits: expected an integer in [1, 18], got 19"},
        OutOfRange{"synthetic: {train_size: 0}",
                   "synthetic.train_size: expected an integer >= 1, got 0"},
        OutOfRange{"synthetic: {eval_size: -1}",
                   "synthetic.eval_size: expected an integer >= 1, got -1"},
        OutOfRange{"threads: 0", "threads: expected 'auto' or an integer >= 1, got '0'"},
        OutOfRange{"threads: many", "threads: expected 'auto' or an integer >= 1, got 'many'"},
        OutOfRange{"output_dir: ''", "output_dir: expected a directory path"},
        OutOfRange{"save_steps: -1", "save_steps: expected an integer >= 0, got -1"},
        OutOfRange{"save_total_limit: -2", "save_total_limit: expected an integer >= 0, got -2"},
        OutOfRange{"save_steps: often", "save_steps: expected an integer, got 'often'"},
        OutOfRange{"overwrite_output_dir: 2", "overwrite_output_dir: expected true or false"},
        OutOfRange{"progress_bar: sometimes",
                   "progress_bar: expected one of auto, true, false; got 'sometimes'"}));

TEST(ConfigErrors, EnumValuesListTheChoicesAndSuggest) {
  std::string sched = error_of(kMinimal + "lr_scheduler_type: cosin\n");
  EXPECT_TRUE(Contains(sched,
                       "train.yaml:3: lr_scheduler_type: expected one of cosine, linear, "
                       "constant; got 'cosin' (did you mean 'cosine'?)"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "kernel_config:\n  device: gpu\n"),
                       "train.yaml:4: kernel_config.device: expected one of auto, cpu, cuda; "
                       "got 'gpu'"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "log_level: verbose\n"),
                       "log_level: expected one of trace, debug, info, warn, error, off; "
                       "got 'verbose'"));
  // Words compared in code downstream are exact.
  EXPECT_TRUE(Contains(error_of(kMinimal + "kernel_config: {device: CPU}\n"),
                       "got 'CPU' (did you mean 'cpu'?)"));
}

TEST(ConfigErrors, KernelSourceMustBeTheBuiltInRegistry) {
  std::string msg = error_of(kMinimal + "kernel_config:\n  name: kernels-community/rmsnorm\n");
  EXPECT_TRUE(Contains(msg,
                       "train.yaml:4: kernel_config.name: got 'kernels-community/rmsnorm'; "
                       "only the built-in registry ('auto') is supported"));
}

TEST(ConfigErrors, MissingOrEmptyRequiredKeys) {
  EXPECT_TRUE(Contains(error_of("train_dataset: builtin:addition\n"),
                       "train.yaml: missing required key 'model' (a config.json path or a model "
                       "directory)"));
  EXPECT_TRUE(
      Contains(error_of("model: m.json\n"), "train.yaml: missing required key 'train_dataset'"));
  EXPECT_TRUE(Contains(error_of(""), "missing required key 'model'"));
  EXPECT_TRUE(Contains(error_of("model: ''\ntrain_dataset: builtin:addition\n"),
                       "train.yaml:1: model: expected a config.json path or a model directory, "
                       "got an empty value"));
}

TEST(ConfigErrors, YamlSyntaxErrorNamesLineAndColumn) {
  // yaml-cpp reports where it noticed: the unclosed '{' of line 3 is found on line 4.
  std::string msg = error_of(kMinimal + "kernel_config: {name: auto\nseed: 1\n");
  EXPECT_TRUE(Contains(msg, "train.yaml:4:5: "));
  EXPECT_TRUE(Contains(msg, "YAML syntax error: "));
  EXPECT_TRUE(Contains(error_of(kMinimal + "seed: 1: 2\n"), "train.yaml:3:"));
}

TEST(ConfigErrors, TopLevelMustBeOneMapping) {
  EXPECT_TRUE(Contains(error_of("- model\n- train_dataset\n"),
                       "train.yaml:1: expected a mapping of config keys at the top level"));
  EXPECT_TRUE(Contains(error_of("- a\n"), "got a sequence"));
  EXPECT_TRUE(Contains(error_of("just text\n"), "got 'just text'"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "---\nseed: 1\n"),
                       "train.yaml:4: expected one YAML document, got 2"));
}

TEST(ConfigErrors, DuplicateKeysNameBothLines) {
  std::string msg = error_of(kMinimal + "learning_rate: 1e-4\nseed: 1\nlearning_rate: 1e-3\n");
  EXPECT_TRUE(Contains(msg, "train.yaml:5: duplicate key 'learning_rate' (first given at line 3)"));
  std::string nested = error_of(kMinimal + "kernel_config:\n  device: cpu\n  device: cuda\n");
  EXPECT_TRUE(Contains(nested,
                       "train.yaml:5: duplicate key 'kernel_config.device' (first given "
                       "at line 4)"));
}

TEST(ConfigErrors, DuplicateKeyIsBlamedOnTheFileEvenWhenOverridden) {
  std::string msg = error_of(kMinimal + "seed: 1\nseed: 2\n", {"seed=3"});
  EXPECT_TRUE(Contains(msg, "train.yaml:4: duplicate key 'seed'"));
}

}  // namespace
}  // namespace fusebox::config
