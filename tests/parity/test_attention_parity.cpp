// cpu_fused_attention vs the eager reference (eager_causal_attention): output, dQ, dK and dV,
// fp32 and bf16, sequence lengths 1/7/100/257 (block tails), GQA ratios 1/2/3, head_dim 64, 128
// and 72 (not a multiple of the 16-float register tile), Sq < Sk as with a KV cache, inputs that
// are transposed views; every element (tolerances from support/tolerances.h). Then whole models:
// a training step and cached decoding with every kernel on vs off.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "kernels/api.h"
#include "model/attention.h"
#include "model/attention_core.h"
#include "model/kv_cache.h"
#include "model/qwen3.h"
#include "support/assert_close.h"
#include "support/kernel_devices.h"

namespace fusebox::test {
namespace {

struct Case {
  torch::ScalarType dtype;
  int64_t heads_q, heads_kv, s_q, s_k, d;
  bool transposed;  // q, k, v as transposed views of [B, S, H, D] memory, as the model passes
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return std::string(c10::toString(c.dtype)) + "_h" + std::to_string(c.heads_q) + "kv" +
         std::to_string(c.heads_kv) + "_q" + std::to_string(c.s_q) + "k" + std::to_string(c.s_k) +
         "_d" + std::to_string(c.d) + (c.transposed ? "_transposed" : "");
}

constexpr int64_t kBatch = 2;

// [B, H, S, D] of N(0, 1) values in the dtype, contiguous or a transpose of [B, S, H, D].
torch::Tensor make_input(const Case& c, int64_t heads, int64_t seq) {
  if (c.transposed) return torch::randn({kBatch, seq, heads, c.d}).to(c.dtype).transpose(1, 2);
  return torch::randn({kBatch, heads, seq, c.d}).to(c.dtype);
}

class AttentionParity : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionParity, ForwardAndGradientsMatchReference) {
  const Case c = GetParam();
  torch::manual_seed(100 + c.s_q * 3 + c.s_k + c.d + c.heads_q);
  const double scaling = 1.0 / std::sqrt(static_cast<double>(c.d));
  auto q = make_input(c, c.heads_q, c.s_q);
  auto k = make_input(c, c.heads_kv, c.s_k);
  auto v = make_input(c, c.heads_kv, c.s_k);
  ASSERT_EQ(q.is_contiguous(), !c.transposed);
  auto dout = torch::randn({kBatch, c.heads_q, c.s_q, c.d}).to(c.dtype);

  auto leaf = [](const torch::Tensor& t) { return t.detach().clone().requires_grad_(true); };
  auto q_ref = leaf(q), k_ref = leaf(k), v_ref = leaf(v);
  auto out_ref = model::eager_causal_attention(q_ref, k_ref, v_ref, scaling);
  out_ref.backward(dout);

  model::AttentionCore core;
  auto report = kernels::apply_kernel("cpu_fused_attention", *core, cpu_options());
  ASSERT_EQ(report.count("cpu_fused_attention"), 1);
  // The kernel sees the strided views themselves (leaf views keep the layout).
  auto q_k = q.detach().requires_grad_(true), k_k = k.detach().requires_grad_(true),
       v_k = v.detach().requires_grad_(true);
  auto out = core(q_k, k_k, v_k, scaling);
  out.backward(dout);

  EXPECT_EQ(out.scalar_type(), c.dtype);
  const int64_t n_rep = c.heads_q / c.heads_kv;
  EXPECT_TRUE(all_close(out, out_ref, attention_tolerance(c.dtype, Quantity::kOutput), "out"));
  // dQ sums over up to Sk keys; dK and dV over Sq rows of each of n_rep q heads.
  EXPECT_TRUE(all_close(q_k.grad(), q_ref.grad(),
                        attention_tolerance(c.dtype, Quantity::kReducedGrad, c.s_k), "dq"));
  EXPECT_TRUE(all_close(k_k.grad(), k_ref.grad(),
                        attention_tolerance(c.dtype, Quantity::kReducedGrad, c.s_q * n_rep), "dk"));
  EXPECT_TRUE(all_close(v_k.grad(), v_ref.grad(),
                        attention_tolerance(c.dtype, Quantity::kReducedGrad, c.s_q * n_rep), "dv"));
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (int64_t seq : {1, 7, 100, 257}) {
      for (int64_t ratio : {1, 2, 3}) {
        for (int64_t d : {64, 128, 72})
          cases.push_back({dtype, 2 * ratio, 2, seq, seq, d, false});
      }
    }
    // Decoding with a cache: one new query after 36 cached positions, five after 32; a prefill
    // spanning two query blocks whose diagonal cuts key blocks off their boundaries.
    cases.push_back({dtype, 6, 2, 1, 37, 64, false});
    cases.push_back({dtype, 6, 2, 5, 37, 64, false});
    cases.push_back({dtype, 4, 2, 70, 133, 72, false});
    cases.push_back({dtype, 6, 3, 100, 100, 128, true});
    cases.push_back({dtype, 4, 2, 5, 37, 40, true});
    // GQA ratio 6: a kv head's q heads span two tiles of at most 4 heads.
    cases.push_back({dtype, 12, 2, 70, 70, 64, false});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllDtypesAndShapes, AttentionParity, ::testing::ValuesIn(all_cases()),
                         case_name);

// head_dim above the micro-kernel's 512-deep strips: the products over head_dim are split.
INSTANTIATE_TEST_SUITE_P(LongHeadDim, AttentionParity,
                         ::testing::Values(Case{torch::kFloat32, 2, 1, 9, 9, 520, false}),
                         case_name);

// The grouped matmul path that sdpa_causal_attention takes for queries continuing a cache
// (decoding) against the eager reference: forward and gradients, one query and several,
// GQA ratios 1 and 3, a transposed query view, fp32 and bf16.
TEST(GroupedContinuationAttention, MatchesEagerReference) {
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (Case c : {Case{dtype, 6, 2, 1, 41, 64, false}, Case{dtype, 6, 2, 5, 41, 64, true},
                   Case{dtype, 2, 2, 3, 9, 72, false}}) {
      SCOPED_TRACE(case_name({c, 0}));
      torch::manual_seed(7 + c.s_q);
      auto leaf = [](const torch::Tensor& t) { return t.detach().requires_grad_(true); };
      auto q = leaf(make_input(c, c.heads_q, c.s_q)), k = leaf(make_input(c, c.heads_kv, c.s_k)),
           v = leaf(make_input(c, c.heads_kv, c.s_k));
      auto q_ref = leaf(q.clone()), k_ref = leaf(k.clone()), v_ref = leaf(v.clone());
      auto dout = torch::randn({kBatch, c.heads_q, c.s_q, c.d}).to(dtype);
      auto out = model::grouped_continuation_attention(q, k, v, 0.125);
      auto ref = model::eager_causal_attention(q_ref, k_ref, v_ref, 0.125);
      out.backward(dout);
      ref.backward(dout);
      const int64_t n_rep = c.heads_q / c.heads_kv;
      EXPECT_TRUE(all_close(out, ref, attention_tolerance(dtype, Quantity::kOutput), "out"));
      EXPECT_TRUE(all_close(q.grad(), q_ref.grad(),
                            attention_tolerance(dtype, Quantity::kReducedGrad, c.s_k), "dq"));
      EXPECT_TRUE(all_close(k.grad(), k_ref.grad(),
                            attention_tolerance(dtype, Quantity::kReducedGrad, c.s_q * n_rep),
                            "dk"));
      EXPECT_TRUE(all_close(v.grad(), v_ref.grad(),
                            attention_tolerance(dtype, Quantity::kReducedGrad, c.s_q * n_rep),
                            "dv"));
    }
  }
}

// fp16 has no CPU matmul in libtorch 1.13, so its reference is the fp32 one on the same
// (fp16-representable) inputs; the kernel rounds only its outputs to fp16.
TEST(AttentionParityFp16, MatchesFp32ReferenceOnFp16Inputs) {
  torch::manual_seed(3);
  auto q = torch::randn({1, 4, 77, 64}).to(torch::kHalf);
  auto k = torch::randn({1, 2, 77, 64}).to(torch::kHalf);
  auto v = torch::randn({1, 2, 77, 64}).to(torch::kHalf);
  auto ref = model::eager_causal_attention(q.to(torch::kFloat32), k.to(torch::kFloat32),
                                           v.to(torch::kFloat32), 0.125);
  model::AttentionCore core;
  kernels::apply_kernel("cpu_fused_attention", *core, cpu_options());
  auto out = core(q, k, v, 0.125);
  EXPECT_EQ(out.scalar_type(), torch::kHalf);
  EXPECT_TRUE(all_close(out, ref, tolerance(torch::kHalf, Quantity::kOutput), "out"));
}

// Gradients are summed in a fixed order per kv head: the same bits on 1 and 2 threads.
TEST(AttentionKernel, BackwardIsDeterministicAcrossThreadCounts) {
  torch::manual_seed(4);
  auto q = torch::randn({1, 6, 150, 64}), k = torch::randn({1, 2, 150, 64}),
       v = torch::randn({1, 2, 150, 64}), dout = torch::randn({1, 6, 150, 64});
  model::AttentionCore core;
  kernels::apply_kernel("cpu_fused_attention", *core, cpu_options());
  auto grads = [&] {
    auto ql = q.clone().requires_grad_(true), kl = k.clone().requires_grad_(true),
         vl = v.clone().requires_grad_(true);
    core(ql, kl, vl, 0.125).backward(dout);
    return std::vector<torch::Tensor>{ql.grad(), kl.grad(), vl.grad()};
  };
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  auto one = grads();
  at::set_num_threads(2);
  auto two = grads();
  at::set_num_threads(threads);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(torch::equal(one[i], two[i])) << "gradient " << i;
}

TEST(AttentionKernel, ShapeErrorsNameTheTensors) {
  model::AttentionCore core;
  kernels::apply_kernel("cpu_fused_attention", *core, cpu_options());
  auto expect_error = [&](const torch::Tensor& q, const torch::Tensor& k, const std::string& what) {
    try {
      core(q, k, k, 0.125);
      ADD_FAILURE() << "expected an error containing: " << what;
    } catch (const c10::Error& e) {
      EXPECT_NE(e.msg().find(what), std::string::npos) << e.msg();
    }
  };
  expect_error(torch::randn({1, 6, 7, 64}), torch::randn({1, 4, 7, 64}),
               "q has 6 heads, not a multiple of k's 4 kv heads (q [1, 6, 7, 64], k [1, 4, 7, "
               "64])");
  expect_error(torch::randn({1, 4, 9, 64}), torch::randn({1, 2, 7, 64}),
               "q has 9 positions but k only 7");
  expect_error(torch::randn({1, 4, 7, 64}), torch::randn({1, 2, 7, 32}),
               "q has head_dim 64 but k has 32");
  expect_error(torch::randn({4, 7, 64}), torch::randn({1, 2, 7, 64}), "expected 4-D q");
}

// fp64 is not a kernel dtype: the layer's reference runs, bit for bit.
TEST(AttentionKernel, UnhandledDtypeFallsBackToReference) {
  auto q = torch::randn({1, 4, 9, 16}, torch::kFloat64),
       k = torch::randn({1, 2, 9, 16}, torch::kFloat64);
  model::AttentionCore core;
  auto ref = core(q, k, k, 0.25);
  kernels::apply_kernel("cpu_fused_attention", *core, cpu_options());
  EXPECT_TRUE(torch::equal(core(q, k, k, 0.25), ref));
}

model::Qwen3Config small_model_config() {
  model::Qwen3Config c;
  c.vocab_size = 97;
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;  // GQA ratio 3
  c.head_dim = 24;            // != hidden / heads; not a multiple of 16
  return c;
}

// A training step of a whole model with every CPU kernel (auto) against kernels off, over 70
// positions so that attention spans two query blocks: loss and every parameter gradient.
TEST(AttentionWholeModel, TrainingStepWithAllKernelsMatchesReference) {
  torch::manual_seed(31);
  auto config = small_model_config();
  model::Qwen3ForCausalLM model(config);
  auto ids = torch::randint(0, config.vocab_size, {2, 70}, torch::kInt64);
  auto step = [&] {
    model->zero_grad();
    auto loss = model->forward(ids, ids).loss;
    loss.backward();
    std::vector<torch::Tensor> grads;
    for (const auto& p : model->parameters())
      grads.push_back(p.grad().clone());
    return std::make_pair(loss.detach(), grads);
  };
  auto [loss_ref, grads_ref] = step();
  auto report = kernels::apply_default_kernels(*model, "auto", cpu_options());
  ASSERT_EQ(report.count("cpu_fused_attention"), config.num_hidden_layers);
  auto [loss, grads] = step();
  EXPECT_TRUE(all_close(loss, loss_ref, tolerance(torch::kFloat32, Quantity::kOutput), "loss"));
  auto names = model->named_parameters().keys();
  ASSERT_EQ(grads.size(), grads_ref.size());
  for (size_t i = 0; i < grads.size(); ++i) {
    EXPECT_TRUE(all_close(grads[i], grads_ref[i],
                          tolerance(torch::kFloat32, Quantity::kReducedGrad, 2 * 70), names[i]));
  }
}

// Prefill then one token at a time through the KV cache with the kernel (Sq = 5, then Sq = 1
// against a growing Sk) gives the logits of the reference's full forward at every position.
TEST(AttentionWholeModel, CachedDecodingWithKernelMatchesFullReferenceForward) {
  torch::manual_seed(32);
  auto config = small_model_config();
  model::Qwen3ForCausalLM model(config);
  model->eval();
  torch::NoGradGuard no_grad;
  auto seq = torch::randint(0, config.vocab_size, {2, 13}, torch::kInt64);
  auto full = model->forward(seq).logits;
  auto report = kernels::apply_kernel("cpu_fused_attention", *model, cpu_options());
  ASSERT_EQ(report.count("cpu_fused_attention"), config.num_hidden_layers);
  model::KVCache cache(config, 2, 13, torch::TensorOptions().dtype(torch::kFloat32));
  auto first = model->next_token_logits(seq.narrow(1, 0, 5), cache);
  auto tol = tolerance(torch::kFloat32, Quantity::kInputGrad);  // logits after two layers
  EXPECT_TRUE(all_close(first, full.select(1, 4), tol, "prefill logits"));
  for (int64_t t = 5; t < 13; ++t) {
    auto step = model->next_token_logits(seq.narrow(1, t, 1), cache);
    EXPECT_TRUE(all_close(step, full.select(1, t), tol, "decode logits")) << "position " << t;
  }
}

}  // namespace
}  // namespace fusebox::test
