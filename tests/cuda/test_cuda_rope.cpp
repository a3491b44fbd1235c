// cuda_fused_rope on a GPU: rotated q and k, dq and dk against the reference RoPE on the same
// GPU (bit for bit in every dtype) and in fp32 against the reference on the CPU; head_dim
// 2..256, GQA (Hq != Hk), positions offset per batch row, shared [1, S], far beyond any
// table, negative; the transposed views attention passes, a non-unit inner stride, a
// gradient for q only. Every element. Skipped without a GPU.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "kernels/api.h"
#include "model/rope.h"
#include "support/assert_close.h"
#include "support/cuda_test.h"
#include "support/kernel_devices.h"

namespace fusebox::test {
namespace {

// kTransposed: [B, H, S, D] views of [B, S, H, D] tensors; kInnerStrided: every other element
// of a [.., 2D] buffer (copied at entry).
enum class Layout { kContiguous, kTransposed, kInnerStrided };
// kOffset: 100 + 7b + s; kShared: [1, S] = 0..S-1; kFar: 1e6 + ...; kNegative: s - 5.
enum class Positions { kOffset, kShared, kFar, kNegative };

struct Case {
  torch::ScalarType dtype;
  int64_t head_dim, seq, q_heads, kv_heads;
  Layout layout;
  Positions positions;
};

std::string describe(const Case& c) {
  const char* layout = c.layout == Layout::kContiguous   ? "contig"
                       : c.layout == Layout::kTransposed ? "transposed"
                                                         : "innerstrided";
  const char* pos = c.positions == Positions::kOffset   ? "offset"
                    : c.positions == Positions::kShared ? "shared"
                    : c.positions == Positions::kFar    ? "far"
                                                        : "negative";
  return std::string(c10::toString(c.dtype)) + "_d" + std::to_string(c.head_dim) + "_s" +
         std::to_string(c.seq) + "_h" + std::to_string(c.q_heads) + "kv" +
         std::to_string(c.kv_heads) + "_" + layout + "_" + pos;
}

void PrintTo(const Case& c, std::ostream* out) {
  *out << describe(c);
}

constexpr int64_t kBatch = 2;

// The tensor that owns the memory (CPU, fp32 draws), by layout.
torch::Tensor make_base(const Case& c, int64_t heads) {
  switch (c.layout) {
    case Layout::kContiguous:
      return torch::randn({kBatch, heads, c.seq, c.head_dim});
    case Layout::kTransposed:
      return torch::randn({kBatch, c.seq, heads, c.head_dim});
    case Layout::kInnerStrided:
      return torch::randn({kBatch, heads, c.seq, 2 * c.head_dim});
  }
  return {};
}

torch::Tensor rope_view(const Case& c, const torch::Tensor& base) {
  switch (c.layout) {
    case Layout::kContiguous:
      return base;
    case Layout::kTransposed:
      return base.transpose(1, 2);
    case Layout::kInnerStrided:
      return base.slice(3, 0, 2 * c.head_dim, 2);
  }
  return {};
}

torch::Tensor make_positions(const Case& c) {
  auto s = torch::arange(c.seq, torch::kInt64).unsqueeze(0);
  auto b = torch::arange(kBatch, torch::kInt64).unsqueeze(1);
  switch (c.positions) {
    case Positions::kOffset:
      return 100 + s + 7 * b;
    case Positions::kShared:
      return s;
    case Positions::kFar:
      return 1000000 + s + 50000 * b;
    case Positions::kNegative:
      return s - 5 + 0 * b;
  }
  return {};
}

struct Result {
  torch::Tensor q_rot, k_rot, dq, dk;
};

// Gradients are taken with respect to the base tensors, so a gradient written in the wrong
// layout shows up as wrong values.
Result run(model::RotaryEmbedding& rope, const Case& c, const torch::Tensor& q_base,
           const torch::Tensor& k_base, const torch::Tensor& pos, const torch::Tensor& dq_rot,
           const torch::Tensor& dk_rot, bool reference) {
  auto q = q_base.detach().clone().requires_grad_(true);
  auto k = k_base.detach().clone().requires_grad_(true);
  auto [q_rot, k_rot] = reference ? rope->reference_forward(rope_view(c, q), rope_view(c, k), pos)
                                  : rope->forward(rope_view(c, q), rope_view(c, k), pos);
  torch::autograd::backward({q_rot, k_rot}, {dq_rot, dk_rot});
  return {q_rot.detach(), k_rot.detach(), q.grad(), k.grad()};
}

class CudaRoPEParity : public ::testing::TestWithParam<Case> {};

TEST_P(CudaRoPEParity, ForwardAndGradientsMatchReference) {
  FUSEBOX_REQUIRE_CUDA();
  const Case c = GetParam();
  torch::manual_seed(77 + c.head_dim * 3 + c.seq);
  model::RotaryEmbedding rope(c.head_dim, 1000000.0);
  auto q_cpu = make_base(c, c.q_heads), k_cpu = make_base(c, c.kv_heads);
  auto pos_cpu = make_positions(c);
  auto dq_cpu = torch::randn({kBatch, c.q_heads, c.seq, c.head_dim});
  auto dk_cpu = torch::randn({kBatch, c.kv_heads, c.seq, c.head_dim});
  auto gpu = [&](const torch::Tensor& t) { return t.to(cuda0(), c.dtype); };
  auto pos = pos_cpu.to(cuda0());

  auto ref = run(rope, c, gpu(q_cpu), gpu(k_cpu), pos, gpu(dq_cpu), gpu(dk_cpu), true);
  auto report = kernels::apply_kernel("cuda_fused_rope", *rope, cuda_options());
  ASSERT_EQ(report.count("cuda_fused_rope"), 1);
  auto out = run(rope, c, gpu(q_cpu), gpu(k_cpu), pos, gpu(dq_cpu), gpu(dk_cpu), false);

  EXPECT_EQ(out.q_rot.scalar_type(), c.dtype);
  EXPECT_TRUE(out.q_rot.is_contiguous()) << "outputs are contiguous [B, H, S, D]";
  const char* names[] = {"q_rot", "k_rot", "dq", "dk"};
  const torch::Tensor got[] = {out.q_rot, out.k_rot, out.dq, out.dk};
  const torch::Tensor want[] = {ref.q_rot, ref.k_rot, ref.dq, ref.dk};
  for (int i = 0; i < 4; ++i) {
    // The gradients are elementwise too (a rotation of the incoming gradient).
    auto tol = tolerance(c.dtype, i < 2 ? Quantity::kOutput : Quantity::kInputGrad);
    EXPECT_TRUE(all_close(got[i], want[i], tol, std::string(names[i]) + " vs GPU reference"));
    // Same cos/sin values (same fp32 angle, same cosf/sinf), same roundings in the same order:
    // the reference's numbers exactly, in every dtype.
    EXPECT_EQ(got[i].ne(want[i]).sum().item<int64_t>(), 0)
        << names[i] << ": elements that are not bit-identical to the GPU reference";
  }
  // fp32 against the CPU reference; positions near 1e6 make that comparison meaningless
  // (see rope_across_devices).
  if (c.dtype == torch::kFloat32 && c.positions != Positions::kFar) {
    auto cpu = run(rope, c, q_cpu, k_cpu, pos_cpu, dq_cpu, dk_cpu, true);
    const torch::Tensor cpu_want[] = {cpu.q_rot, cpu.k_rot, cpu.dq, cpu.dk};
    auto tol = rope_across_devices(pos_cpu.abs().max().item<int64_t>());
    for (int i = 0; i < 4; ++i) {
      EXPECT_TRUE(all_close(got[i], cpu_want[i], tol, std::string(names[i]) + " vs CPU reference"));
    }
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kHalf}) {
    for (int64_t d : {2, 6, 64, 128})
      for (int64_t s : {1, 13})
        cases.push_back({dtype, d, s, 4, 2, Layout::kTransposed, Positions::kOffset});
    cases.push_back({dtype, 64, 13, 3, 3, Layout::kContiguous, Positions::kShared});
    cases.push_back({dtype, 6, 13, 4, 1, Layout::kInnerStrided, Positions::kOffset});
    cases.push_back({dtype, 128, 13, 2, 2, Layout::kContiguous, Positions::kFar});
    cases.push_back({dtype, 256, 7, 3, 1, Layout::kTransposed, Positions::kNegative});
    cases.push_back({dtype, 16, 300, 5, 1, Layout::kTransposed, Positions::kOffset});
    cases.push_back({dtype, 128, 64, 16, 8, Layout::kTransposed, Positions::kOffset});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(RoPE, CudaRoPEParity, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) { return describe(info.param); });

// Attention may use q's rotation only: k's gradient stays undefined and q's is still right.
TEST(CudaRoPE, GradientOfQAlone) {
  FUSEBOX_REQUIRE_CUDA();
  torch::manual_seed(5);
  model::RotaryEmbedding rope(64, 10000.0);
  auto pos = torch::arange(9, torch::kInt64).unsqueeze(0).to(cuda0());
  auto q0 = torch::randn({1, 9, 4, 64}).to(cuda0()), k0 = torch::randn({1, 9, 2, 64}).to(cuda0());
  auto run_q_only = [&](bool kernel) {
    auto q = q0.clone().requires_grad_(true), k = k0.clone().requires_grad_(true);
    auto [q_rot, k_rot] = kernel
                              ? rope->forward(q.transpose(1, 2), k.transpose(1, 2), pos)
                              : rope->reference_forward(q.transpose(1, 2), k.transpose(1, 2), pos);
    (q_rot * q_rot).sum().backward();
    EXPECT_FALSE(k.grad().defined());
    return q.grad();
  };
  auto want = run_q_only(false);
  kernels::apply_kernel("cuda_fused_rope", *rope, cuda_options());
  EXPECT_TRUE(
      all_close(run_q_only(true), want, tolerance(torch::kFloat32, Quantity::kInputGrad), "dq"));
}

TEST(CudaRoPE, MismatchedShapesAreAClearError) {
  FUSEBOX_REQUIRE_CUDA();
  model::RotaryEmbedding rope(64, 10000.0);
  kernels::apply_kernel("cuda_fused_rope", *rope, cuda_options());
  auto q = torch::randn({2, 4, 9, 64}).to(cuda0()), k = torch::randn({2, 2, 8, 64}).to(cuda0());
  auto pos = torch::arange(9, torch::kInt64).unsqueeze(0).to(cuda0());
  try {
    rope(q, k, pos);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected k of shape [2, kv_heads, 9, 64]"),
              std::string::npos)
        << e.what();
  }
}

TEST(CudaRoPE, CpuTensorsUseTheReference) {
  FUSEBOX_REQUIRE_CUDA();
  model::RotaryEmbedding rope(8, 10000.0);
  auto q = torch::randn({1, 2, 3, 8}), k = torch::randn({1, 1, 3, 8});
  auto pos = torch::arange(3, torch::kInt64).unsqueeze(0);
  auto [q_ref, k_ref] = rope->reference_forward(q, k, pos);
  kernels::apply_kernel("cuda_fused_rope", *rope, cuda_options());
  auto [q_rot, k_rot] = rope(q, k, pos);
  EXPECT_TRUE(torch::equal(q_rot, q_ref));
  EXPECT_TRUE(torch::equal(k_rot, k_ref));
}

}  // namespace
}  // namespace fusebox::test
