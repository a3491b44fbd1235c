// cpu_fused_moe: the Qwen3-MoE sparse block with the tokens sorted by expert, so that every
// expert runs its three GEMMs on one contiguous block of rows.
//
// Forward, for x [T, H] (T = batch * seq) and top-k routing:
//   logits = x W_gate^T;  (w, e) = route_top_k(logits)     -- exactly the reference's routing
//   sort the T*k assignments (t, slot) by expert: histogram, prefix sum, scatter (counting
//     sort, O(T*k), on the host; no [experts, k, T] one_hot and no per-expert `where`)
//   xs = x[token of each sorted assignment]                 -- one gather for all experts
//   per expert with rows: ys_e = (silu(xs_e Wg^T) * (xs_e Wu^T)) Wd^T on its block xs_e
//   out.index_add_(0, token, cat(ys) * w_sorted)            -- one scatter-add for all experts
// Within an expert the rows keep the reference's order (slot-major, then token), and
// index_add_ adds each token's contributions in ascending expert order as the reference's
// loop does, so fp32 and bf16 results match the reference to rounding of the GEMMs.
//
// Autograd: the graph is built from differentiable ops (index_select, linear, silu, mul, cat,
// index_add_), so dX, d(gate.weight) (through w and through the returned logits) and every
// expert's weight gradients are exact. What autograd saves: x, the sorted token ids, the
// gathered block xs, each expert's g, u, silu(g) and h (the linear inputs), cat(ys) and
// w_sorted -- the same per-row tensors the reference saves, minus its per-expert masks and
// the full-size zero buffers its per-expert index backward allocates.
// Experts with no rows are skipped (their parameters get no gradient, as in the reference).
// Dtypes: whatever torch::linear supports for x and the weights of one dtype (fp32, bf16;
// fp16 on torch 2.x). Layout: any; x is reshaped to [T, H] (a copy only if it must be).
// Other devices and dtype mixes run the reference forward.
//
// Speed: the expert GEMMs are the same in kernel and reference, and they dominate on CPU
// (T 4096, H 512, 16 experts top-2, I 256, fp32, 2 threads: GEMMs alone ~116 ms of fwd+bwd,
// kernel ~142 ms, reference ~162 ms). What this saves is the reference's per-expert masks and
// its per-expert full-size zero buffers in backward; a custom backward for the gather/scatter
// (x.index + index_add_) measured within noise, so it is not used.
#include <torch/torch.h>

#include <mutex>
#include <tuple>
#include <vector>

#include "kernels/register.h"
#include "model/moe.h"
#include "util/log.h"

namespace fusebox::ops {
namespace {

// The assignments of a [T, k] routing grouped by expert. Assignment a = t * k + slot indexes
// the flattened routing weights; token[i] and assignment[i] describe the i-th sorted row.
struct ExpertOrder {
  torch::Tensor token;         // int64 [T * k]: the token of each sorted row
  torch::Tensor assignment;    // int64 [T * k]: t * k + slot of each sorted row
  std::vector<int64_t> start;  // [experts + 1]: expert e owns rows [start[e], start[e + 1])
};

// Counting sort by expert id. Rows are scattered slot-major, then by token, which is the row
// order of the reference's torch::where over its [k, T] mask.
ExpertOrder sort_by_expert(const torch::Tensor& experts, int64_t num_experts) {
  auto ids = experts.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t tokens = ids.size(0), k = ids.size(1), n = tokens * k;
  const int64_t* id = ids.data_ptr<int64_t>();

  ExpertOrder order;
  order.start.assign(static_cast<size_t>(num_experts + 1), 0);
  for (int64_t a = 0; a < n; ++a) {
    TORCH_CHECK(id[a] >= 0 && id[a] < num_experts, "cpu_fused_moe: expected expert ids in [0, ",
                num_experts, "), but got ", id[a]);
    ++order.start[static_cast<size_t>(id[a] + 1)];
  }
  for (int64_t e = 0; e < num_experts; ++e)
    order.start[static_cast<size_t>(e + 1)] += order.start[static_cast<size_t>(e)];

  std::vector<int64_t> next(order.start.begin(), order.start.end() - 1);
  order.token = torch::empty({n}, torch::kInt64);
  order.assignment = torch::empty({n}, torch::kInt64);
  int64_t* token = order.token.data_ptr<int64_t>();
  int64_t* assignment = order.assignment.data_ptr<int64_t>();
  for (int64_t slot = 0; slot < k; ++slot) {
    for (int64_t t = 0; t < tokens; ++t) {
      int64_t a = t * k + slot;
      int64_t row = next[static_cast<size_t>(id[a])]++;
      token[row] = t;
      assignment[row] = a;
    }
  }
  return order;
}

// One expert on its contiguous block: down(silu(gate(xs)) * up(xs)), the reference MLP's
// math with the expert's own weights (no copies).
torch::Tensor expert_block(const model::Qwen3MLPImpl& mlp, const torch::Tensor& xs) {
  auto g = torch::linear(xs, mlp.gate_proj->weight);
  auto u = torch::linear(xs, mlp.up_proj->weight);
  return torch::linear(torch::silu(g) * u, mlp.down_proj->weight);
}

bool kernel_handles(const model::Qwen3MoeSparseMoeBlockImpl& layer, const torch::Tensor& x) {
  if (!x.device().is_cpu()) return false;
  auto same = [&](const torch::Tensor& w) {
    return w.device().is_cpu() && w.scalar_type() == x.scalar_type();
  };
  if (!same(layer.gate->weight)) return false;
  for (int64_t e = 0; e < layer.num_experts(); ++e) {
    const auto& mlp = layer.expert(e);
    if (!same(mlp.gate_proj->weight) || !same(mlp.up_proj->weight) ||
        !same(mlp.down_proj->weight)) {
      return false;
    }
  }
  return true;
}

std::tuple<torch::Tensor, torch::Tensor> cpu_fused_moe_forward(
    const model::Qwen3MoeSparseMoeBlockImpl& layer, const torch::Tensor& hidden) {
  const int64_t h = layer.hidden_size();
  TORCH_CHECK(hidden.dim() == 3 && hidden.size(2) == h,
              "cpu_fused_moe: expected hidden states [batch, seq, ", h, "], but got ",
              hidden.sizes());
  if (!kernel_handles(layer, hidden)) {
    // Mixed dtypes keep the reference's type promotion; other devices have their own kernels.
    static std::once_flag once;
    std::call_once(once, [&] {
      log::debug("cpu_fused_moe: input ", hidden.scalar_type(), " on ", hidden.device(),
                 " with router weight ", layer.gate->weight.scalar_type(),
                 " is not handled; using the reference forward");
    });
    return layer.reference_forward(hidden);
  }

  auto x = hidden.reshape({-1, h});
  auto router_logits = torch::linear(x, layer.gate->weight);
  auto routing =
      model::route_top_k(router_logits, layer.top_k(), layer.norm_topk_prob(), x.scalar_type());
  auto out = torch::zeros_like(x);
  if (x.size(0) == 0) return {out.reshape(hidden.sizes()), router_logits};

  ExpertOrder order = sort_by_expert(routing.experts, layer.num_experts());
  auto xs = x.index_select(0, order.token);  // [T * k, H], grouped by expert
  // split_with_sizes, not one narrow per expert: its backward is one cat of the blocks'
  // gradients, where each narrow's would be a zero-filled [T * k, H] tensor per expert.
  std::vector<int64_t> rows(static_cast<size_t>(layer.num_experts()));
  for (size_t e = 0; e < rows.size(); ++e)
    rows[e] = order.start[e + 1] - order.start[e];
  auto blocks = xs.split_with_sizes(rows, 0);
  std::vector<torch::Tensor> ys;
  ys.reserve(rows.size());
  for (int64_t e = 0; e < layer.num_experts(); ++e) {
    // As the reference: an expert with no token does not run and gets no gradient.
    if (rows[static_cast<size_t>(e)] == 0) continue;
    ys.push_back(expert_block(layer.expert(e), blocks[static_cast<size_t>(e)]));
  }
  auto w_sorted = routing.weights.reshape({-1}).index_select(0, order.assignment);
  auto weighted = torch::cat(ys, 0) * w_sorted.unsqueeze(-1);
  out.index_add_(0, order.token, weighted.to(x.scalar_type()));
  return {out.reshape(hidden.sizes()), router_logits};
}

}  // namespace
}  // namespace fusebox::ops

FUSEBOX_REGISTER_KERNEL(fusebox::model::MoELayer, fusebox::ops::cpu_fused_moe_forward,
                        fusebox::kernels::KernelInfo("cpu_fused_moe")
                            .device(fusebox::kernels::DeviceType::kCPU)
                            .backward(true)
                            .default_enabled(true)
                            .priority(10)
                            .description("Qwen3-MoE block: tokens counting-sorted by expert, "
                                         "one gather, per-expert GEMMs on contiguous blocks, "
                                         "one index_add_"));
