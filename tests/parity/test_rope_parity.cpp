// cpu_fused_rope vs the reference RoPE: rotated q and k, dq and dk, fp32/bf16/fp16, head_dim
// 2..128, seq 1 and 13, GQA (k with fewer heads), positions that are not 0..S-1 (offset and
// different per batch row, shared [1, S], beyond the table's first size), the transposed
// views the model passes and a non-unit inner stride; every element (support/tolerances.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "kernels/api.h"
#include "model/rope.h"
#include "ops/rope/cpu_rope_table.h"
#include "support/assert_close.h"
#include "support/kernel_devices.h"

namespace fusebox::test {
namespace {

// kTransposed: q/k are [B, H, S, D] views of [B, S, H, D] tensors, as attention passes them.
// kInnerStrided: every other element of a [.., 2D] buffer (exercises the copying path).
enum class Layout { kContiguous, kTransposed, kInnerStrided };
// kOffset: 100 + 7 * b + s (different per batch row); kShared: [1, S] = 0..S-1 for every row;
// kFar: positions past the table's initial 4096, forcing it to grow.
enum class Positions { kOffset, kShared, kFar };

struct Case {
  torch::ScalarType dtype;
  int64_t head_dim;
  int64_t seq;
  int64_t q_heads, kv_heads;
  Layout layout;
  Positions positions;
};

std::string describe(const Case& c) {
  const char* layout = c.layout == Layout::kContiguous   ? "contig"
                       : c.layout == Layout::kTransposed ? "transposed"
                                                         : "innerstrided";
  const char* pos = c.positions == Positions::kOffset   ? "offset"
                    : c.positions == Positions::kShared ? "shared"
                                                        : "far";
  return std::string(c10::toString(c.dtype)) + "_d" + std::to_string(c.head_dim) + "_s" +
         std::to_string(c.seq) + "_h" + std::to_string(c.q_heads) + "kv" +
         std::to_string(c.kv_heads) + "_" + layout + "_" + pos;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return describe(info.param);
}

// gtest prints parameters in test names (and ctest shows them); without this, raw bytes.
void PrintTo(const Case& c, std::ostream* out) {
  *out << describe(c);
}

constexpr int64_t kBatch = 2;

// The tensor that owns the memory: [B, H, S, D], [B, S, H, D] or [B, H, S, 2D] by layout.
torch::Tensor make_base(const Case& c, int64_t heads) {
  auto opts = torch::TensorOptions().dtype(c.dtype);
  switch (c.layout) {
    case Layout::kContiguous:
      return torch::randn({kBatch, heads, c.seq, c.head_dim}, opts);
    case Layout::kTransposed:
      return torch::randn({kBatch, c.seq, heads, c.head_dim}, opts);
    case Layout::kInnerStrided:
      return torch::randn({kBatch, heads, c.seq, 2 * c.head_dim}, opts);
  }
  return {};
}

// The [B, H, S, D] view of a base tensor that goes into RoPE.
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
  auto s = torch::arange(c.seq, torch::kInt64);
  switch (c.positions) {
    case Positions::kOffset:
      return 100 + s.unsqueeze(0) + 7 * torch::arange(kBatch, torch::kInt64).unsqueeze(1);
    case Positions::kShared:
      return s.unsqueeze(0);
    case Positions::kFar:
      return 9000 + s.unsqueeze(0) + 1000 * torch::arange(kBatch, torch::kInt64).unsqueeze(1);
  }
  return {};
}

struct Result {
  torch::Tensor q_rot, k_rot, dq, dk;
};

// Gradients are taken with respect to the base tensors, so a kernel gradient written in the
// wrong layout shows up as wrong values.
Result run(model::RotaryEmbedding& rope, const Case& c, const torch::Tensor& q_base,
           const torch::Tensor& k_base, const torch::Tensor& pos, const torch::Tensor& dq_rot,
           const torch::Tensor& dk_rot, bool reference) {
  auto q = q_base.detach().clone().requires_grad_(true);
  auto k = k_base.detach().clone().requires_grad_(true);
  auto qv = rope_view(c, q), kv = rope_view(c, k);
  if (c.layout != Layout::kContiguous && c.seq > 1) {  // with one position the views coincide
    EXPECT_FALSE(qv.is_contiguous());
  }
  auto [q_rot, k_rot] =
      reference ? rope->reference_forward(qv, kv, pos) : rope->forward(qv, kv, pos);
  torch::autograd::backward({q_rot, k_rot}, {dq_rot, dk_rot});
  return {q_rot.detach(), k_rot.detach(), q.grad(), k.grad()};
}

class RoPEParity : public ::testing::TestWithParam<Case> {};

TEST_P(RoPEParity, ForwardAndGradientsMatchReference) {
  const Case c = GetParam();
  torch::manual_seed(77 + c.head_dim * 3 + c.seq);
  model::RotaryEmbedding rope(c.head_dim, 1000000.0);
  auto q = make_base(c, c.q_heads), k = make_base(c, c.kv_heads);
  auto pos = make_positions(c);
  auto dq_rot = torch::randn({kBatch, c.q_heads, c.seq, c.head_dim}).to(c.dtype);
  auto dk_rot = torch::randn({kBatch, c.kv_heads, c.seq, c.head_dim}).to(c.dtype);

  auto ref = run(rope, c, q, k, pos, dq_rot, dk_rot, /*reference=*/true);
  auto report = kernels::apply_kernel("cpu_fused_rope", *rope, cpu_options());
  ASSERT_EQ(report.count("cpu_fused_rope"), 1);
  auto out = run(rope, c, q, k, pos, dq_rot, dk_rot, /*reference=*/false);

  EXPECT_EQ(out.q_rot.scalar_type(), c.dtype);
  EXPECT_TRUE(out.q_rot.is_contiguous()) << "outputs are contiguous [B, H, S, D]";
  auto output = tolerance(c.dtype, Quantity::kOutput);
  // The gradients are elementwise too (a rotation of the incoming gradient).
  auto grad = tolerance(c.dtype, Quantity::kInputGrad);
  EXPECT_TRUE(all_close(out.q_rot, ref.q_rot, output, "q_rot"));
  EXPECT_TRUE(all_close(out.k_rot, ref.k_rot, output, "k_rot"));
  EXPECT_TRUE(all_close(out.dq, ref.dq, grad, "dq"));
  EXPECT_TRUE(all_close(out.dk, ref.dk, grad, "dk"));
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
    cases.push_back({dtype, 16, 300, 5, 1, Layout::kTransposed, Positions::kOffset});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(RoPE, RoPEParity, ::testing::ValuesIn(all_cases()), case_name);

// In bf16 and fp16 the kernel rounds the two products and the sum as the reference does, with
// the reference's own cos/sin values, so forward and backward are bit-exact: a product of two
// half-precision values is exact in fp32, and the fp32 sum of two such products is either
// exact or so lopsided that both sides round it to the larger term.
class RoPEExactness : public ::testing::TestWithParam<torch::ScalarType> {};

TEST_P(RoPEExactness, HalfPrecisionIsBitExact) {
  const auto dtype = GetParam();
  torch::manual_seed(3);
  model::RotaryEmbedding rope(128, 1000000.0);
  auto q = torch::randn({2, 64, 16, 128}).to(dtype).transpose(1, 2);
  auto k = torch::randn({2, 64, 8, 128}).to(dtype).transpose(1, 2);
  auto dq_rot = torch::randn({2, 16, 64, 128}).to(dtype);
  auto dk_rot = torch::randn({2, 8, 64, 128}).to(dtype);
  auto pos = 37 + torch::arange(64, torch::kInt64).unsqueeze(0).repeat({2, 1});
  auto run = [&] {
    auto ql = q.detach().requires_grad_(true), kl = k.detach().requires_grad_(true);
    auto [q_rot, k_rot] = rope(ql, kl, pos);
    torch::autograd::backward({q_rot, k_rot}, {dq_rot, dk_rot});
    return std::vector<torch::Tensor>{q_rot.detach(), k_rot.detach(), ql.grad(), kl.grad()};
  };
  auto ref = run();
  kernels::apply_kernel("cpu_fused_rope", *rope, cpu_options());
  auto out = run();
  const char* names[] = {"q_rot", "k_rot", "dq", "dk"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(out[i].ne(ref[i]).sum().item<int64_t>(), 0) << names[i] << " elements differ";
  }
}

INSTANTIATE_TEST_SUITE_P(RoPE, RoPEExactness, ::testing::Values(torch::kBFloat16, torch::kHalf),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

// The kernel's cached table holds the reference's own fp32 angles: the same cos/sin values
// that RotaryEmbeddingImpl::cos_sin computes for any batch of positions.
TEST(RoPETable, HoldsTheReferenceValues) {
  model::RotaryEmbedding rope(64, 1000000.0);
  auto table = ops::cpu_rope_table(*rope, torch::kFloat32, 5000);
  ASSERT_GE(table->positions, 5000);
  auto pos = torch::randint(0, 5000, {3, 77}, torch::kInt64);
  auto [cos, sin] = rope->cos_sin(pos);  // [3, 77, 64]: both halves repeat the same angles
  auto flat = pos.flatten();
  EXPECT_TRUE(
      torch::equal(table->cos.index_select(0, flat), cos.slice(2, 0, 32).reshape({-1, 32})));
  EXPECT_TRUE(torch::equal(table->sin.index_select(0, flat), sin.slice(2, 32).reshape({-1, 32})));
  // Same head_dim and theta: one shared table, grown in place of the old one.
  EXPECT_EQ(ops::cpu_rope_table(*model::RotaryEmbedding(64, 1000000.0), torch::kFloat32, 10).get(),
            table.get());
  EXPECT_GE(ops::cpu_rope_table(*rope, torch::kFloat32, 20000)->positions, 20000);
  // A bf16 table holds the reference's cast of the same values.
  auto bf16 = ops::cpu_rope_table(*rope, torch::kBFloat16, 100);
  EXPECT_TRUE(torch::equal(
      bf16->cos, table->cos.slice(0, 0, bf16->positions).to(torch::kBFloat16).to(torch::kFloat32)));
}

// Shapes the kernel does not take go to the reference instead of failing.
TEST(RoPEFallback, NegativePositionsUseTheReference) {
  model::RotaryEmbedding rope(8, 10000.0);
  auto q = torch::randn({1, 2, 3, 8}), k = torch::randn({1, 1, 3, 8});
  auto pos = torch::tensor({-1, 0, 1}, torch::kInt64).unsqueeze(0);
  auto [q_ref, k_ref] = rope->reference_forward(q, k, pos);
  kernels::apply_kernel("cpu_fused_rope", *rope, cpu_options());
  auto [q_rot, k_rot] = rope(q, k, pos);
  EXPECT_TRUE(torch::equal(q_rot, q_ref));
  EXPECT_TRUE(torch::equal(k_rot, k_ref));
}

}  // namespace
}  // namespace fusebox::test
