// cuda_fused_moe: the Qwen3-MoE sparse block on CUDA with the tokens sorted by expert on the
// GPU, grouped expert GEMMs and the gather / SwiGLU / weighted combine fused into single
// passes. Torch side: checks, allocation, the current stream, the autograd node, registration.
//
// Forward, for x [T, H] (T = batch * seq):
//   logits = x W_gate^T; (w, e) = model::route_top_k(logits)  -- the reference's own routing
//                                                                (torch ops, autograd-tracked)
//   sort the T * k assignments by expert                       -- cuda_moe_routing.cu, no sync
//   xs = x[token of each row]                                   -- gather kernel
//   gu = xs_e [Wg_e; Wu_e]^T per expert block                   -- grouped GEMM (or per expert)
//   h = round(round(silu(g)) * u)                               -- SwiGLU kernel
//   y = h_e Wd_e^T                                              -- grouped GEMM
//   out[t] = sum over t's rows, in expert order, of round(y * w) -- combine kernel, no atomics
// The experts' part is one autograd node (CudaFusedMoeBackward) whose inputs are x, the routing
// weights and every expert's three weights, so the gradient to gate.weight flows through the
// routing weights (and the returned logits) exactly as in the reference. Its backward:
//   dy = round(dout[t] * w), dw = round(sum_h round(dout * y))   -- combine backward kernel
//   dh = dy_e Wd_e;  dWd_e = dy_e^T h_e                           -- grouped GEMMs
//   dg, du (and h again) from gu and dh                          -- SwiGLU backward kernel
//   dxs = dgu_e [Wg_e; Wu_e];  [dWg_e; dWu_e] = dgu_e^T xs_e      -- grouped GEMMs (xs re-gathered)
//   dx[t] = sum of dxs over t's rows                             -- fp32, expert order, no atomics
// Saved for backward: x, the routing weights and the expert weights (references), the sort
// (int32: 2 * T * k + 2 * E), gu [T * k, 2I] and y [T * k, H]. h and xs are recomputed (one
// elementwise pass, one gather) rather than kept; the stacked weights of the grouped path are
// rebuilt rather than kept (a copy of every expert weight per layer would stay alive until the
// backward otherwise).
// Experts that got no token get no gradient (undefined, as in the reference, which skips
// them). Knowing which needs the row counts on the host: the forward copies them into pinned
// memory asynchronously and the backward waits on that copy's event, which has long completed.
// Dtypes: fp32, bf16, fp16 (x, gate and expert weights of one dtype, on one CUDA device).
// bf16 with hidden and moe_intermediate_size multiples of 16 on sm_90/sm_100 uses
// torch::_grouped_mm (torch >= 2.8); anything else runs one GEMM per expert, which needs the
// row counts on the host: one sync per forward, logged once. Other inputs (CPU tensors, mixed
// dtypes, more than 1024 experts) run the reference forward.
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/register.h"
#include "model/moe.h"
#include "ops/common/cuda_launch.h"
#include "ops/moe/cuda_fused_moe.h"
#include "ops/moe/cuda_moe_expert_gemm.h"
#include "util/log.h"

namespace fusebox::ops {
namespace {

using torch::autograd::SavedVariable;
using torch::autograd::variable_list;

cuda::DType storage_dtype(torch::ScalarType t) {
  auto dtype = launch_dtype(t);
  TORCH_CHECK(dtype, "cuda_fused_moe: expected fp32, bf16 or fp16, but got ", t);
  return *dtype;
}

// The routing sort of one forward (cuda_fused_moe.h for the meaning of each), all int32.
struct ExpertSort {
  torch::Tensor group_end, group_rows, sorted_assignment, token_rows;
};

ExpertSort sort_by_expert(const torch::Tensor& experts, int64_t num_experts, cudaStream_t stream) {
  auto ids = experts.contiguous();
  const int64_t n = ids.numel();
  auto opts = ids.options().dtype(torch::kInt32);
  auto scratch = torch::empty({cuda::moe_sort_scratch_elements(n, num_experts)}, opts);
  ExpertSort s{torch::empty({num_experts}, opts), torch::empty({num_experts}, opts),
               torch::empty({n}, opts), torch::empty({n}, opts)};
  cuda::moe_sort_by_expert(
      ids.data_ptr<int64_t>(), ids.size(0), ids.size(1), num_experts, scratch.data_ptr<int32_t>(),
      s.group_end.data_ptr<int32_t>(), s.group_rows.data_ptr<int32_t>(),
      s.sorted_assignment.data_ptr<int32_t>(), s.token_rows.data_ptr<int32_t>(), stream);
  return s;
}

// [E + 1] block starts from the rows per expert (int32, on the host).
std::vector<int64_t> row_starts(const torch::Tensor& group_rows_host) {
  auto rows = group_rows_host.contiguous();
  const int32_t* r = rows.data_ptr<int32_t>();
  std::vector<int64_t> start(static_cast<size_t>(rows.numel() + 1), 0);
  for (int64_t e = 0; e < rows.numel(); ++e)
    start[e + 1] = start[e] + r[e];
  return start;
}

ExpertWeights expert_weights(const model::Qwen3MoeSparseMoeBlockImpl& layer) {
  ExpertWeights w;
  for (int64_t e = 0; e < layer.num_experts(); ++e) {
    const auto& mlp = layer.expert(e);
    w.gate.push_back(mlp.gate_proj->weight);
    w.up.push_back(mlp.up_proj->weight);
    w.down.push_back(mlp.down_proj->weight);
  }
  return w;
}

// Gradient slots of the node: x, the routing weights, then (gate, up, down) per expert.
constexpr size_t kFirstExpertSlot = 2;
size_t gate_slot(int64_t e) {
  return kFirstExpertSlot + 3 * static_cast<size_t>(e);
}

class CudaFusedMoeBackward : public torch::autograd::Node {
 public:
  std::string name() const override { return "CudaFusedMoeBackward"; }
  variable_list apply(variable_list&& grads) override;
  void release_variables() override;

  SavedVariable x, weights;  // x [T, H] contiguous; routing weights [T, k]
  std::vector<SavedVariable> gate, up, down;
  ExpertSort sort;
  torch::Tensor gu, y;
  bool grouped = false;
  int64_t top_k = 0;
  std::vector<int64_t> row_start;  // the loop path knows it since the forward
  torch::Tensor group_rows_host;   // grouped path: pinned copy of sort.group_rows,
  std::shared_ptr<at::cuda::CUDAEvent> group_rows_copied;  // complete once this fires
  bool released = false;
};

variable_list CudaFusedMoeBackward::apply(variable_list&& grads) {
  TORCH_CHECK(!released,
              "cuda_fused_moe: backward through the MoE block a second time, but its saved "
              "tensors were freed after the first; use backward(retain_graph=true)");
  variable_list result(num_outputs());
  if (!grads[0].defined()) return result;
  auto x_ = x.unpack();
  auto w_ = weights.unpack().contiguous();
  const c10::cuda::CUDAGuard device_guard(x_.device());
  cudaStream_t stream = launch_stream();
  const cuda::DType dtype = storage_dtype(x_.scalar_type());
  const int64_t tokens = x_.size(0), hidden = x_.size(1), rows = gu.size(0);
  const int64_t inter = gu.size(1) / 2, experts = static_cast<int64_t>(gate.size());

  ExpertWeights ew;
  for (int64_t e = 0; e < experts; ++e) {
    ew.gate.push_back(gate[e].unpack());
    ew.up.push_back(up[e].unpack());
    ew.down.push_back(down[e].unpack());
  }
  if (row_start.empty()) {
    group_rows_copied->synchronize();
    row_start = row_starts(group_rows_host);
  }
  ExpertGemms gemms(std::move(ew), grouped, sort.group_end, row_start);

  auto dout = grads[0].contiguous();  // e.g. an expanded ones tensor from out.sum()
  auto dy = torch::empty({rows, hidden}, x_.options());
  auto dweights = torch::empty({tokens, top_k}, w_.options());
  cuda::moe_combine_backward(dout.data_ptr(), y.data_ptr(), w_.data_ptr(),
                             sort.sorted_assignment.data_ptr<int32_t>(), rows, top_k, hidden,
                             dy.data_ptr(), dweights.data_ptr(), dtype, stream);
  dout = torch::Tensor();
  result[1] = dweights;

  auto dh = gemms.down_input_grad(dy);
  auto dgu = torch::empty({rows, 2 * inter}, x_.options());
  auto h = torch::empty({rows, inter}, x_.options());
  cuda::moe_swiglu_backward(gu.data_ptr(), dh.data_ptr(), rows, inter, dgu.data_ptr(), h.data_ptr(),
                            dtype, stream);
  dh = torch::Tensor();
  auto wanted = [&](size_t slot) { return should_compute_output(slot); };
  bool any_down = false, any_gate_up = false;
  for (int64_t e = 0; e < experts; ++e) {
    any_down = any_down || wanted(gate_slot(e) + 2);
    any_gate_up = any_gate_up || wanted(gate_slot(e)) || wanted(gate_slot(e) + 1);
  }
  if (any_down) {
    auto ddown = gemms.down_weight_grads(dy, h);
    for (int64_t e = 0; e < experts; ++e)
      if (wanted(gate_slot(e) + 2)) result[gate_slot(e) + 2] = ddown[e];
  }
  dy = torch::Tensor();
  h = torch::Tensor();

  if (any_gate_up) {
    auto xs = torch::empty({rows, hidden}, x_.options());
    cuda::moe_gather_rows(x_.data_ptr(), sort.sorted_assignment.data_ptr<int32_t>(), rows, top_k,
                          hidden, xs.data_ptr(), dtype, stream);
    std::vector<torch::Tensor> dgate, dup;
    gemms.gate_up_weight_grads(dgu, xs, dgate, dup);
    for (int64_t e = 0; e < experts; ++e) {
      if (wanted(gate_slot(e))) result[gate_slot(e)] = dgate[e];
      if (wanted(gate_slot(e) + 1)) result[gate_slot(e) + 1] = dup[e];
    }
  }
  if (wanted(0)) {
    auto dxs = gemms.gate_up_input_grad(dgu);
    dgu = torch::Tensor();
    auto dx = torch::empty_like(x_);
    cuda::moe_sum_token_rows(dxs.data_ptr(), sort.token_rows.data_ptr<int32_t>(), tokens, top_k,
                             hidden, dx.data_ptr(), dtype, stream);
    result[0] = dx;
  }
  return result;
}

void CudaFusedMoeBackward::release_variables() {
  x.reset_data();
  weights.reset_data();
  for (auto* list : {&gate, &up, &down})
    for (auto& v : *list)
      v.reset_data();
  sort = ExpertSort();
  gu = y = group_rows_host = torch::Tensor();
  group_rows_copied.reset();
  released = true;
}

// The experts' part for x [T, H] (contiguous, T > 0) and the layer's routing.
torch::Tensor fused_experts(const model::Qwen3MoeSparseMoeBlockImpl& layer, const torch::Tensor& x,
                            const model::MoeRouting& routing) {
  const c10::cuda::CUDAGuard device_guard(x.device());
  cudaStream_t stream = launch_stream();
  const cuda::DType dtype = storage_dtype(x.scalar_type());
  const int64_t tokens = x.size(0), hidden = x.size(1), top_k = layer.top_k();
  const int64_t inter = layer.expert_intermediate_size(), experts = layer.num_experts();
  const int64_t rows = tokens * top_k;

  ExpertWeights ew = expert_weights(layer);
  variable_list inputs{x, routing.weights};
  for (int64_t e = 0; e < experts; ++e) {
    inputs.push_back(ew.gate[e]);
    inputs.push_back(ew.up[e]);
    inputs.push_back(ew.down[e]);
  }
  std::string why;
  const bool grouped =
      cuda_moe_grouped_gemm_supported(x.scalar_type(), x.device(), hidden, inter, experts, &why);

  torch::Tensor out, gu, y;
  ExpertSort sort;
  std::vector<int64_t> row_start;
  {
    torch::NoGradGuard no_grad;
    auto w = routing.weights.contiguous();
    sort = sort_by_expert(routing.experts, experts, stream);
    if (!grouped) {
      static std::once_flag once;
      std::call_once(once, [&] {
        log::info("cuda_fused_moe: ", why,
                  "; running one GEMM per expert, which reads the expert row counts on the host "
                  "(one sync per forward)");
      });
      row_start = row_starts(sort.group_rows.to(torch::kCPU));
    }
    ExpertGemms gemms(ew, grouped, sort.group_end, row_start);
    auto xs = torch::empty({rows, hidden}, x.options());
    cuda::moe_gather_rows(x.data_ptr(), sort.sorted_assignment.data_ptr<int32_t>(), rows, top_k,
                          hidden, xs.data_ptr(), dtype, stream);
    gu = gemms.gate_up(xs);
    xs = torch::Tensor();
    auto h = torch::empty({rows, inter}, x.options());
    cuda::moe_swiglu_forward(gu.data_ptr(), rows, inter, h.data_ptr(), dtype, stream);
    y = gemms.down(h);
    h = torch::Tensor();
    out = torch::empty({tokens, hidden}, x.options());
    cuda::moe_combine_forward(
        y.data_ptr(), w.data_ptr(), sort.sorted_assignment.data_ptr<int32_t>(),
        sort.token_rows.data_ptr<int32_t>(), tokens, top_k, hidden, out.data_ptr(), dtype, stream);
  }
  if (!torch::GradMode::is_enabled() || !torch::autograd::any_variable_requires_grad(inputs)) {
    return out;
  }

  auto node = std::shared_ptr<CudaFusedMoeBackward>(new CudaFusedMoeBackward(),
                                                    torch::autograd::deleteNode);
  node->set_next_edges(torch::autograd::collect_next_edges(inputs));
  node->x = SavedVariable(x, /*is_output=*/false);
  node->weights = SavedVariable(routing.weights, /*is_output=*/false);
  for (int64_t e = 0; e < experts; ++e) {
    node->gate.emplace_back(ew.gate[e], /*is_output=*/false);
    node->up.emplace_back(ew.up[e], /*is_output=*/false);
    node->down.emplace_back(ew.down[e], /*is_output=*/false);
  }
  node->sort = sort;
  node->gu = gu;
  node->y = y;
  node->grouped = grouped;
  node->top_k = top_k;
  node->row_start = row_start;
  if (grouped) {
    node->group_rows_host =
        torch::empty({experts}, torch::TensorOptions().dtype(torch::kInt32).pinned_memory(true));
    node->group_rows_host.copy_(sort.group_rows, /*non_blocking=*/true);
    node->group_rows_copied = std::make_shared<at::cuda::CUDAEvent>();
    node->group_rows_copied->record(at::cuda::getCurrentCUDAStream());
  }
  torch::autograd::set_history(out, node);
  return out;
}

// Why the kernel cannot serve this call (empty when it can).
std::string unsupported_reason(const model::Qwen3MoeSparseMoeBlockImpl& layer,
                               const torch::Tensor& hidden) {
  auto dt = hidden.scalar_type();
  if (!hidden.is_cuda()) return "the input is not on a CUDA device";
  if (dt != torch::kFloat32 && dt != torch::kBFloat16 && dt != torch::kHalf) {
    return std::string("dtype ") + c10::toString(dt) + " is not fp32, bf16 or fp16";
  }
  auto differs = [&](const torch::Tensor& w) {
    return w.device() != hidden.device() || w.scalar_type() != dt;
  };
  if (differs(layer.gate->weight)) return "the router weight's dtype or device differs";
  for (int64_t e = 0; e < layer.num_experts(); ++e) {
    const auto& mlp = layer.expert(e);
    if (differs(mlp.gate_proj->weight) || differs(mlp.up_proj->weight) ||
        differs(mlp.down_proj->weight)) {
      return "expert " + std::to_string(e) + "'s weights differ in dtype or device";
    }
  }
  if (layer.num_experts() > cuda::kMoeMaxExperts) {
    return "more than " + std::to_string(cuda::kMoeMaxExperts) + " experts";
  }
  if (hidden.numel() / std::max<int64_t>(layer.hidden_size(), 1) * layer.top_k() >
      std::numeric_limits<int32_t>::max()) {
    return "tokens * top_k does not fit int32 row indices";
  }
  return {};
}

std::tuple<torch::Tensor, torch::Tensor> cuda_fused_moe_forward(
    const model::Qwen3MoeSparseMoeBlockImpl& layer, const torch::Tensor& hidden) {
  const int64_t h = layer.hidden_size();
  TORCH_CHECK(hidden.dim() == 3 && hidden.size(2) == h,
              "cuda_fused_moe: expected hidden states [batch, seq, ", h, "], but got ",
              hidden.sizes());
  std::string why = unsupported_reason(layer, hidden);
  if (!why.empty()) {
    static std::once_flag once;
    std::call_once(once, [&] {
      log::debug("cuda_fused_moe: ", why, " (input ", hidden.scalar_type(), " on ", hidden.device(),
                 "); using the reference forward");
    });
    return layer.reference_forward(hidden);
  }
  // As the reference: route on the [T, H] view, return logits with their autograd path.
  auto x = hidden.reshape({-1, h});
  auto router_logits = torch::linear(x, layer.gate->weight);
  auto routing =
      model::route_top_k(router_logits, layer.top_k(), layer.norm_topk_prob(), x.scalar_type());
  if (x.size(0) == 0) return {torch::zeros_like(hidden), router_logits};
  auto out = fused_experts(layer, x.contiguous(), routing);
  return {out.view(hidden.sizes()), router_logits};
}

}  // namespace
}  // namespace fusebox::ops

FUSEBOX_REGISTER_KERNEL(
    fusebox::model::MoELayer, fusebox::ops::cuda_fused_moe_forward,
    fusebox::kernels::KernelInfo("cuda_fused_moe")
        .device(fusebox::kernels::DeviceType::kCUDA)
        .compute_capability(fusebox::ops::cuda::kBuiltMinComputeCapability,
                            fusebox::ops::cuda::kBuiltMaxComputeCapability)
        .backward(true)
        .default_enabled(true)
        .priority(10)
        .description("Qwen3-MoE block: routing sort on the GPU, grouped expert GEMMs "
                     "(torch::_grouped_mm for bf16 on sm_90), fused gather / SwiGLU / weighted "
                     "combine, deterministic"));
