// kernel_config.include_kernels: every accepted spelling and the malformed ones, from YAML,
// from an override and through the std-only normalize_include_kernels().
#include <gtest/gtest.h>

#include <string>

#include "config/include_kernels.h"
#include "config/train_config.h"
#include "config_test_util.h"
#include "util/error.h"

namespace fusebox::config {
namespace {

using testing::Contains;
using testing::error_of;
using testing::kMinimal;
using testing::parse;

struct Spelling {
  const char* yaml;  // the text after "include_kernels: "
  const char* normalised;
};

class IncludeKernelsSpelling : public ::testing::TestWithParam<Spelling> {};

TEST_P(IncludeKernelsSpelling, NormalisesFromYaml) {
  const Spelling& s = GetParam();
  TrainConfig cfg = parse(kMinimal + "kernel_config:\n  include_kernels: " + s.yaml + "\n");
  EXPECT_EQ(cfg.kernel_config.include_kernels, s.normalised) << "yaml: " << s.yaml;
}

TEST_P(IncludeKernelsSpelling, NormalisesFromAnOverride) {
  const Spelling& s = GetParam();
  TrainConfig cfg = parse(kMinimal, {std::string("kernel_config.include_kernels=") + s.yaml});
  EXPECT_EQ(cfg.kernel_config.include_kernels, s.normalised) << "override value: " << s.yaml;
}

INSTANTIATE_TEST_SUITE_P(
    AllForms, IncludeKernelsSpelling,
    ::testing::Values(
        Spelling{"", "false"},  // "include_kernels:" with no value is null
        Spelling{"null", "false"}, Spelling{"~", "false"}, Spelling{"false", "false"},
        Spelling{"FALSE", "false"}, Spelling{"False", "false"}, Spelling{"\"\"", "false"},
        Spelling{"'  '", "false"}, Spelling{"true", "true"}, Spelling{"True", "true"},
        Spelling{"TRUE", "true"}, Spelling{"auto", "auto"}, Spelling{"Auto", "auto"},
        Spelling{"AUTO", "auto"}, Spelling{"cpu_fused_rmsnorm", "cpu_fused_rmsnorm"},
        Spelling{"cpu_fused_rmsnorm,cpu_fused_swiglu", "cpu_fused_rmsnorm,cpu_fused_swiglu"},
        Spelling{"cpu_fused_rmsnorm, cpu_fused_swiglu", "cpu_fused_rmsnorm,cpu_fused_swiglu"},
        Spelling{"' cpu_fused_rmsnorm ,cpu_fused_swiglu '", "cpu_fused_rmsnorm,cpu_fused_swiglu"},
        Spelling{"[cpu_fused_rmsnorm, cpu_fused_swiglu]", "cpu_fused_rmsnorm,cpu_fused_swiglu"},
        Spelling{"[cpu_fused_rmsnorm]", "cpu_fused_rmsnorm"}, Spelling{"[auto]", "auto"},
        Spelling{"[]", "false"}));

TEST(IncludeKernels, BlockSequenceIsAList) {
  TrainConfig cfg = parse(kMinimal +
                          "kernel_config:\n"
                          "  include_kernels:\n"
                          "    - cpu_fused_rmsnorm\n"
                          "    - cpu_fused_swiglu\n");
  EXPECT_EQ(cfg.kernel_config.include_kernels, "cpu_fused_rmsnorm,cpu_fused_swiglu");
}

TEST(IncludeKernels, OmittedIsFalse) {
  EXPECT_EQ(parse(kMinimal).kernel_config.include_kernels, "false");
  EXPECT_EQ(parse(kMinimal + "kernel_config: {device: cpu}\n").kernel_config.include_kernels,
            "false");
}

TEST(IncludeKernels, EmptyEntryIsAnErrorWithFileLineAndPath) {
  std::string msg = error_of(kMinimal + "kernel_config:\n  include_kernels: a,,b\n");
  EXPECT_TRUE(Contains(msg, "train.yaml:4: kernel_config.include_kernels: "));
  EXPECT_TRUE(Contains(msg, "empty entry at position 2"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "kernel_config: {include_kernels: 'a,'}\n"),
                       "empty entry at position 2"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "kernel_config: {include_kernels: [a, '']}\n"),
                       "empty entry at position 2"));
}

TEST(IncludeKernels, SpaceInsteadOfCommaIsAnError) {
  std::string msg = error_of(kMinimal + "kernel_config: {include_kernels: a b}\n");
  EXPECT_TRUE(Contains(msg, "expected kernel ids separated by commas, got 'a b'"));
  EXPECT_TRUE(Contains(error_of(kMinimal + "kernel_config: {include_kernels: 'x, a b'}\n"),
                       "got 'x, a b' ('a b' holds a space)"));
}

TEST(IncludeKernels, MappingsAndNestedListsAreErrors) {
  std::string mapping = error_of(kMinimal + "kernel_config:\n  include_kernels: {a: 1}\n");
  EXPECT_TRUE(Contains(mapping,
                       "train.yaml:4: kernel_config.include_kernels: expected null, "
                       "false, true, auto"));
  EXPECT_TRUE(Contains(mapping, "got a mapping"));
  std::string nested = error_of(kMinimal + "kernel_config: {include_kernels: [a, [b]]}\n");
  EXPECT_TRUE(Contains(nested, "got a sequence at position 2"));
}

TEST(IncludeKernels, OverrideErrorNamesTheOverride) {
  std::string msg = error_of(kMinimal, {"kernel_config.include_kernels=a,,b"});
  EXPECT_TRUE(Contains(msg,
                       "command-line override 'kernel_config.include_kernels=a,,b': "
                       "kernel_config.include_kernels: "));
}

TEST(IncludeKernels, StdOnlyNormaliser) {
  EXPECT_EQ(normalize_include_kernels(" Auto "), "auto");
  EXPECT_EQ(normalize_include_kernels(""), "false");
  EXPECT_EQ(normalize_include_kernels("a , b"), "a,b");
  try {
    normalize_include_kernels("a,");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(Contains(e.what(), "include_kernels: expected"));
  }
  std::string out;
  EXPECT_EQ(normalize_include_kernels(std::vector<std::string>{"a", " b "}, &out), "");
  EXPECT_EQ(out, "a,b");
}

}  // namespace
}  // namespace fusebox::config
