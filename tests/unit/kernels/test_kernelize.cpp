// kernelize / unkernelize / apply_kernel on a fake model with a private registry, and on the
// real Qwen3 model with the built-in registry.
#include <gtest/gtest.h>

#include <set>

#include "kernels/api.h"
#include "kernels/register.h"
#include "model/qwen3.h"
#include "unit/kernels/fake_layer.h"
#include "util/error.h"

namespace fusebox::test {
namespace {

using kernels::DeviceInfo;
using kernels::DeviceType;
using kernels::IncludeKernels;
using kernels::KernelInfo;
using kernels::KernelizeOptions;
using kernels::KernelMode;
using kernels::KernelRegistry;
using kernels::make_kernel_spec;

torch::Tensor times_ten(const FakeScaleImpl&, const torch::Tensor& x) {
  return x * 10;
}
torch::Tensor times_hundred(const FakeScaleImpl&, const torch::Tensor& x) {
  return x * 100;
}
torch::Tensor other_negate(const FakeOtherImpl&, const torch::Tensor& x) {
  return -x;
}

// A private registry: cpu kernels with and without backward, a CUDA kernel, and one that is
// not enabled by default.
struct Fixture : ::testing::Test {
  Fixture() {
    registry.add(make_kernel_spec<FakeScaleLayer>(
        times_ten, KernelInfo("cpu_fused_scale").backward(true).priority(5), "ops/scale.cpp"));
    registry.add(make_kernel_spec<FakeScaleLayer>(
        times_hundred, KernelInfo("cpu_fast_scale_inference").backward(false).priority(9),
        "ops/scale_inf.cpp"));
    registry.add(make_kernel_spec<FakeScaleLayer>(
        times_ten, KernelInfo("cuda_fused_scale").device(DeviceType::kCUDA).backward(true),
        "ops/scale.cu"));
    registry.add(make_kernel_spec<FakeOtherLayer>(
        other_negate, KernelInfo("cpu_fused_other").backward(true).default_enabled(false),
        "ops/other.cpp"));
    options.device = DeviceInfo{};  // cpu
    options.registry = &registry;
  }
  double run(FakeScale& layer) { return layer(torch::ones({1})).item<double>(); }

  KernelRegistry registry;
  KernelizeOptions options;
  FakeModel model;
};

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no exception>";
}

TEST_F(Fixture, NoneLeavesReferenceForwards) {
  auto report = kernels::kernelize(*model, IncludeKernels::none(), options);
  EXPECT_TRUE(report.applied.empty());
  EXPECT_EQ(run(model->a), 2.0);
  EXPECT_EQ(report.reference_layers.at("FakeScale"), 2);
}

TEST_F(Fixture, AutoInTrainingSkipsKernelWithoutBackwardAndUsesNextBest) {
  auto report = kernels::kernelize(*model, IncludeKernels::automatic(), options);
  EXPECT_EQ(report.count("cpu_fused_scale"), 2);
  EXPECT_EQ(report.count("cpu_fast_scale_inference"), 0);
  EXPECT_EQ(report.fallbacks.size(), 2u);  // the inference-only kernel, once per layer
  EXPECT_FALSE(report.fallbacks[0].requested);
  EXPECT_EQ(run(model->a), 10.0);
  // Not enabled by default: FakeOther keeps its reference.
  EXPECT_FALSE(model->other->kernelized());
  EXPECT_EQ(report.reference_layers.at("FakeOther"), 1);
}

TEST_F(Fixture, AutoInInferencePrefersHigherPriority) {
  options.mode = KernelMode::kInference;
  auto report = kernels::kernelize(*model, IncludeKernels::automatic(), options);
  EXPECT_EQ(report.count("cpu_fast_scale_inference"), 2);
  EXPECT_EQ(run(model->b), 100.0);
}

TEST_F(Fixture, StrictTurnsFallbackIntoError) {
  options.strict = true;
  std::string msg =
      message_of([&] { kernels::kernelize(*model, IncludeKernels::automatic(), options); });
  EXPECT_NE(msg.find("cpu_fast_scale_inference"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no backward"), std::string::npos) << msg;
  EXPECT_NE(msg.find("strict"), std::string::npos) << msg;
  EXPECT_FALSE(model->a->kernelized()) << "a failed kernelize must leave the model untouched";
}

TEST_F(Fixture, ExplicitNoBackwardInTrainingFallsBackWithRequestedFlag) {
  auto report =
      kernels::kernelize(*model, IncludeKernels::list({"cpu_fast_scale_inference"}), options);
  EXPECT_EQ(report.applied.size(), 0u);
  ASSERT_EQ(report.fallbacks.size(), 2u);
  EXPECT_TRUE(report.fallbacks[0].requested);
  EXPECT_EQ(run(model->a), 2.0);
}

TEST_F(Fixture, ExplicitListInstallsExactlyThoseKernels) {
  auto report = kernels::kernelize(*model, IncludeKernels::list({"cpu_fused_other"}), options);
  EXPECT_EQ(report.count("cpu_fused_other"), 1);
  EXPECT_FALSE(model->a->kernelized());
  EXPECT_EQ(model->other(torch::ones({1})).item<double>(), -1.0);
}

TEST_F(Fixture, UnknownIdIsErrorListingKnownIds) {
  std::string msg = message_of(
      [&] { kernels::kernelize(*model, IncludeKernels::list({"cpu_fused_scal"}), options); });
  EXPECT_NE(msg.find("unknown kernel id 'cpu_fused_scal'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cpu_fused_scale"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cuda_fused_scale"), std::string::npos) << msg;
}

TEST_F(Fixture, OtherDeviceIdIsADifferentError) {
  std::string msg = message_of(
      [&] { kernels::kernelize(*model, IncludeKernels::list({"cuda_fused_scale"}), options); });
  EXPECT_NE(msg.find("kernel 'cuda_fused_scale' needs device cuda"), std::string::npos) << msg;
  EXPECT_NE(msg.find("detected device is cpu"), std::string::npos) << msg;
}

TEST_F(Fixture, TwoKernelsForOneLayerIsAnError) {
  options.mode = KernelMode::kInference;
  std::string msg = message_of([&] {
    kernels::kernelize(
        *model, IncludeKernels::list({"cpu_fused_scale", "cpu_fast_scale_inference"}), options);
  });
  EXPECT_NE(msg.find("both replace layer 'FakeScale'"), std::string::npos) << msg;
}

TEST_F(Fixture, KernelForLayerTheModelLacksIsAnError) {
  FakeScale lone(1.0);
  std::string msg = message_of(
      [&] { kernels::kernelize(*lone, IncludeKernels::list({"cpu_fused_other"}), options); });
  EXPECT_NE(msg.find("the model has no such layer"), std::string::npos) << msg;
}

TEST_F(Fixture, UnkernelizeRestoresReference) {
  kernels::kernelize(*model, IncludeKernels::automatic(), options);
  ASSERT_EQ(run(model->a), 10.0);
  kernels::unkernelize(*model);
  EXPECT_EQ(run(model->a), 2.0);
  EXPECT_FALSE(model->b->kernelized());
}

TEST_F(Fixture, KernelizeReplacesPreviousSelection) {
  kernels::kernelize(*model, IncludeKernels::list({"cpu_fused_other"}), options);
  kernels::kernelize(*model, IncludeKernels::list({"cpu_fused_scale"}), options);
  EXPECT_FALSE(model->other->kernelized());
  EXPECT_TRUE(model->a->kernelized());
}

TEST_F(Fixture, InstallRejectsKernelOfAnotherLayer) {
  const auto& spec = registry.get("cpu_fused_other");
  std::string msg = message_of([&] { model->a->install_kernel(spec); });
  EXPECT_NE(msg.find("replaces layer 'FakeOther'"), std::string::npos) << msg;
}

TEST_F(Fixture, SummaryNamesKernelsAndCounts) {
  auto report = kernels::kernelize(*model, IncludeKernels::automatic(), options);
  std::string s = report.summary();
  EXPECT_NE(s.find("cpu_fused_scale -> 2 FakeScale modules"), std::string::npos) << s;
  EXPECT_NE(s.find("reference forward: FakeOther x1"), std::string::npos) << s;
}

// The real model: the RMSNorm kernel lands on every RMSNorm (input/post-attention, q_norm,
// k_norm, final norm) and nowhere else.
TEST(KernelizeQwen3, RmsnormKernelLandsOnExactlyTheNorms) {
  model::Qwen3Config c;
  c.vocab_size = 50;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  model::Qwen3ForCausalLM model(c);
  KernelizeOptions options;
  options.device = DeviceInfo{};
  auto report = kernels::kernelize(*model, IncludeKernels::list({"cpu_fused_rmsnorm"}), options);
  std::set<std::string> paths;
  for (const auto& p : report.applied) {
    EXPECT_EQ(p.kernel_id, "cpu_fused_rmsnorm");
    paths.insert(p.module_path);
  }
  std::set<std::string> expected = {"model.norm"};
  for (int i = 0; i < 3; ++i) {
    std::string prefix = "model.layers." + std::to_string(i) + ".";
    for (const char* n :
         {"input_layernorm", "post_attention_layernorm", "self_attn.q_norm", "self_attn.k_norm"})
      expected.insert(prefix + n);
  }
  EXPECT_EQ(paths, expected);
  for (auto& [path, layer] : kernels::kernelizable_modules(*model))
    EXPECT_EQ(layer->kernelized(), expected.count(path) == 1) << path;
}

}  // namespace
}  // namespace fusebox::test
