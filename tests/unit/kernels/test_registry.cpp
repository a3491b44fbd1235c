// KernelRegistry, KernelSpec, IncludeKernels and device parsing.
#include <gtest/gtest.h>

#include "kernels/api.h"
#include "kernels/include_policy.h"
#include "kernels/register.h"
#include "unit/kernels/fake_layer.h"
#include "util/error.h"

namespace fusebox::test {
namespace {

using kernels::DeviceInfo;
using kernels::DeviceType;
using kernels::IncludeKernels;
using kernels::KernelInfo;
using kernels::KernelRegistry;
using kernels::make_kernel_spec;

torch::Tensor times_ten(const FakeScaleImpl&, const torch::Tensor& x) {
  return x * 10;
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no exception>";
}

TEST(KernelRegistry, DuplicateIdIsAnErrorNamingBothFiles) {
  KernelRegistry registry;
  registry.add(
      make_kernel_spec<FakeScaleLayer>(times_ten, KernelInfo("cpu_fused_fake"), "ops/a.cpp"));
  std::string msg = message_of([&] {
    registry.add(
        make_kernel_spec<FakeScaleLayer>(times_ten, KernelInfo("cpu_fused_fake"), "ops/b.cpp"));
  });
  EXPECT_NE(msg.find("duplicate kernel id 'cpu_fused_fake'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ops/a.cpp"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ops/b.cpp"), std::string::npos) << msg;
}

TEST(KernelRegistry, DeferredDuplicateSurfacesAtFirstLookup) {
  KernelRegistry registry;
  registry.add_deferred(make_kernel_spec<FakeScaleLayer>(times_ten, KernelInfo("k"), "ops/a.cpp"));
  registry.add_deferred(make_kernel_spec<FakeScaleLayer>(times_ten, KernelInfo("k"), "ops/b.cpp"));
  EXPECT_THROW(registry.all(), KernelError);
  EXPECT_THROW(registry.find("k"), KernelError);
}

TEST(KernelRegistry, UnknownIdListsKnownIdsAndSuggests) {
  KernelRegistry registry;
  registry.add(make_kernel_spec<FakeScaleLayer>(times_ten, KernelInfo("cpu_fused_fake"), "x.cpp"));
  registry.add(make_kernel_spec<FakeScaleLayer>(times_ten, KernelInfo("cpu_fused_other"), "y.cpp"));
  std::string msg = message_of([&] { registry.get("cpu_fused_fak"); });
  EXPECT_NE(msg.find("unknown kernel id 'cpu_fused_fak'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'cpu_fused_fake'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cpu_fused_fake, cpu_fused_other"), std::string::npos) << msg;
  EXPECT_EQ(registry.find("nope"), nullptr);
}

TEST(KernelRegistry, BuiltInRmsnormIsRegisteredWithItsSource) {
  const auto& spec = KernelRegistry::global().get("cpu_fused_rmsnorm");
  EXPECT_EQ(spec.layer, "RMSNorm");
  EXPECT_EQ(spec.device, DeviceType::kCPU);
  EXPECT_TRUE(spec.has_backward);
  EXPECT_TRUE(spec.default_enabled);
  EXPECT_EQ(spec.source_file, "ops/rmsnorm/cpu_fused_rmsnorm.cpp");
}

TEST(KernelSpec, CudaCapabilityRangeIsChecked) {
  auto spec = make_kernel_spec<FakeScaleLayer>(
      times_ten, KernelInfo("cuda_fused_fake").device(DeviceType::kCUDA).compute_capability(80, 90),
      "x.cu");
  DeviceInfo h100{DeviceType::kCUDA, 0, 90, "H100"};
  DeviceInfo v100{DeviceType::kCUDA, 0, 70, "V100"};
  DeviceInfo cpu;
  EXPECT_TRUE(spec.is_available(h100));
  std::string why;
  EXPECT_FALSE(spec.is_available(v100, &why));
  EXPECT_NE(why.find("sm_80..sm_90"), std::string::npos) << why;
  EXPECT_FALSE(spec.is_available(cpu, &why));
  EXPECT_NE(why.find("detected cpu"), std::string::npos) << why;
}

TEST(KernelSpec, AvailabilityCheckReasonIsReported) {
  auto spec = make_kernel_spec<FakeScaleLayer>(
      times_ten, KernelInfo("cpu_fused_fake").available([](const DeviceInfo&, std::string* why) {
        *why = "needs AMX";
        return false;
      }),
      "x.cpp");
  std::string why;
  EXPECT_FALSE(spec.is_available(DeviceInfo{}, &why));
  EXPECT_EQ(why, "needs AMX");
}

TEST(IncludeKernels, EveryFormParses) {
  for (const char* none : {"", "  ", "null", "NULL", "~", "false", "False", "none"})
    EXPECT_EQ(IncludeKernels::parse(none).kind, IncludeKernels::Kind::kNone) << none;
  for (const char* automatic : {"auto", "AUTO", "true", "True"})
    EXPECT_EQ(IncludeKernels::parse(automatic).kind, IncludeKernels::Kind::kAuto) << automatic;
  auto list = IncludeKernels::parse(" cpu_fused_rmsnorm ,cpu_fused_swiglu, cpu_fused_rmsnorm ");
  EXPECT_EQ(list.kind, IncludeKernels::Kind::kList);
  EXPECT_EQ(list.ids, (std::vector<std::string>{"cpu_fused_rmsnorm", "cpu_fused_swiglu"}));
  EXPECT_EQ(list.to_string(), "cpu_fused_rmsnorm,cpu_fused_swiglu");
  EXPECT_THROW(IncludeKernels::parse("a,,b"), KernelError);
}

TEST(Device, ParsesKnownNamesAndRejectsOthers) {
  EXPECT_EQ(kernels::parse_device_type("CPU"), DeviceType::kCPU);
  EXPECT_EQ(kernels::parse_device_type("cuda"), DeviceType::kCUDA);
  EXPECT_EQ(kernels::parse_device_type("npu"), DeviceType::kNPU);
  EXPECT_EQ(kernels::parse_device_type("mps"), DeviceType::kMPS);
  std::string msg = message_of([] { kernels::parse_device_type("tpu"); });
  EXPECT_NE(msg.find("cpu, cuda, npu, xpu, mps"), std::string::npos) << msg;
}

TEST(Device, CpuAlwaysResolves) {
  EXPECT_EQ(kernels::resolve_device("cpu").type, DeviceType::kCPU);
  EXPECT_EQ(kernels::resolve_device("auto").type, kernels::detect_device().type);
  if (!torch::cuda::is_available()) {
    std::string msg = message_of([] { kernels::resolve_device("cuda"); });
    EXPECT_NE(msg.find("detected device: cpu"), std::string::npos) << msg;
  }
}

TEST(PublicApi, DefaultKernelsOnCpuIncludeRmsnorm) {
  auto ids = kernels::get_default_kernels(DeviceInfo{});
  EXPECT_NE(std::find(ids.begin(), ids.end(), "cpu_fused_rmsnorm"), ids.end());
  for (const auto& id : ids)
    EXPECT_EQ(id.rfind("cpu_", 0), 0u) << id;
}

}  // namespace
}  // namespace fusebox::test
