// Kernel selection on a GPU: `include_kernels: auto` on a CUDA device picks the cuda_fused_*
// kernels for RMSNorm, MLP and RoPE (never a cpu_* one), and a Qwen3 model running them on the
// GPU matches its reference forwards: logits, loss and every parameter gradient.
// Skipped without a GPU.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "kernels/api.h"
#include "model/qwen3.h"
#include "support/assert_close.h"
#include "support/cuda_test.h"
#include "support/kernel_devices.h"

namespace fusebox::test {
namespace {

model::Qwen3Config small_config() {
  model::Qwen3Config c;
  c.vocab_size = 97;
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;  // GQA ratio 3
  c.head_dim = 16;            // != hidden / heads
  return c;
}

struct Outputs {
  torch::Tensor logits, loss;
  std::vector<std::pair<std::string, torch::Tensor>> grads;
};

Outputs run(model::Qwen3ForCausalLM& model, const torch::Tensor& ids) {
  model->zero_grad();
  auto out = model->forward(ids, ids);
  out.loss.backward();
  torch::NoGradGuard no_grad;
  Outputs o{model->forward(ids).logits, out.loss.detach(), {}};
  for (const auto& p : model->named_parameters())
    o.grads.emplace_back(p.key(), p.value().grad().clone());
  return o;
}

TEST(CudaKernelize, AutoPicksTheCudaKernels) {
  FUSEBOX_REQUIRE_CUDA();
  const auto device = kernels::detect_device();
  ASSERT_EQ(device.type, kernels::DeviceType::kCUDA) << device.describe();
  auto ids = kernels::get_default_kernels(device);
  for (const char* id : {"cuda_fused_rmsnorm", "cuda_fused_swiglu", "cuda_fused_rope"}) {
    EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end())
        << id << " is not a default kernel on " << device.describe();
  }

  model::Qwen3ForCausalLM model(small_config());
  model->to(cuda0());
  auto report = kernels::apply_default_kernels(*model, "auto", cuda_options());
  EXPECT_EQ(report.count("cuda_fused_rmsnorm"), 9);  // 2 layers x 4 norms + the final norm
  EXPECT_EQ(report.count("cuda_fused_swiglu"), 2);
  EXPECT_EQ(report.count("cuda_fused_rope"), 2);
  for (const auto& patch : report.applied)
    EXPECT_EQ(patch.kernel_id.rfind("cuda_", 0), 0u)
        << patch.module_path << ": " << patch.kernel_id;
}

class CudaWholeModel : public ::testing::TestWithParam<torch::ScalarType> {};

TEST_P(CudaWholeModel, KernelsOnMatchKernelsOff) {
  FUSEBOX_REQUIRE_CUDA();
  const auto dtype = GetParam();
  torch::manual_seed(21);
  model::Qwen3ForCausalLM model(small_config());
  model->to(cuda0(), dtype);
  auto ids = torch::randint(0, 97, {2, 13}, torch::kInt64).to(cuda0());
  auto ref = run(model, ids);
  // These three only: the other CUDA kernels (loss head, MoE) have their own tests.
  kernels::apply_default_kernels(*model, "cuda_fused_rmsnorm,cuda_fused_swiglu,cuda_fused_rope",
                                 cuda_options());
  auto fused = run(model, ids);
  kernels::unkernelize(*model);

  // Logits pass through every layer; in bf16 they sum 48 hidden units after two layers.
  auto logits = dtype == torch::kFloat32 ? tolerance(dtype, Quantity::kInputGrad)
                                         : tolerance(dtype, Quantity::kReducedGrad, 48);
  EXPECT_TRUE(all_close(fused.logits, ref.logits, logits, "logits"));
  EXPECT_TRUE(all_close(fused.loss, ref.loss, tolerance(dtype, Quantity::kOutput), "loss"));
  if (dtype != torch::kFloat32) return;  // bf16 weight gradients: covered per kernel
  ASSERT_EQ(fused.grads.size(), ref.grads.size());
  for (size_t i = 0; i < fused.grads.size(); ++i) {
    EXPECT_TRUE(all_close(fused.grads[i].second, ref.grads[i].second,
                          tolerance(dtype, Quantity::kReducedGrad, 2 * 13), fused.grads[i].first));
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaWholeModel,
                         ::testing::Values(torch::kFloat32, torch::kBFloat16),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

}  // namespace
}  // namespace fusebox::test
