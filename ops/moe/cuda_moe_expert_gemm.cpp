// ExpertGemms: cuda_fused_moe's expert GEMMs, grouped (torch::_grouped_mm) or one cuBLAS call
// per expert; see cuda_moe_expert_gemm.h. Every GEMM is in the activations' dtype with fp32
// accumulation, as the reference's torch::linear calls are.
//
// _grouped_mm layouts used (offsets = the int32 block ends, on the device):
//   2d x 3d   A [rows, K] row-major, B [E, K, N]            -> [rows, N]: expert e's rows times
//   B[e] 2d x 2d   A [M, rows] (a transposed [rows, M] buffer), B [rows, N]
//                                                             -> [E, M, N]: the weight gradients
// The 2d x 2d form takes A column-major and B row-major, the one layout whose kernel also
// accepts experts with no rows (torch's CUTLASS path asserts on empty groups in the others).
#include "ops/moe/cuda_moe_expert_gemm.h"

#include <ATen/cuda/CUDAContext.h>
#include <torch/version.h>

#include <utility>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8)
#define FUSEBOX_HAS_GROUPED_MM 1
#else
#define FUSEBOX_HAS_GROUPED_MM 0
#endif

namespace fusebox::ops {
namespace {

// Stands in for torch::_grouped_mm on a torch without it; never reached there, because
// cuda_moe_grouped_gemm_supported() is false and every caller takes the loop path.
torch::Tensor grouped_mm(const torch::Tensor& a, const torch::Tensor& b,
                         const torch::Tensor& offsets) {
#if FUSEBOX_HAS_GROUPED_MM
  return at::_grouped_mm(a, b, offsets);
#else
  (void)a, (void)b, (void)offsets;
  TORCH_CHECK(false, "cuda_fused_moe: torch::_grouped_mm needs torch >= 2.8, this is ",
              TORCH_VERSION);
  return {};
#endif
}

}  // namespace

bool cuda_moe_grouped_gemm_supported(torch::ScalarType dtype, const torch::Device& device,
                                     int64_t hidden, int64_t inter, int64_t experts,
                                     std::string* why) {
  auto fail = [why](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  if (!FUSEBOX_HAS_GROUPED_MM) {
    return fail(std::string("torch ") + TORCH_VERSION + " has no torch::_grouped_mm (2.8+)");
  }
  if (dtype != torch::kBFloat16) {
    return fail(std::string("torch::_grouped_mm runs ") + c10::toString(dtype) +
                " without its fast path (bf16 only)");
  }
  if (!device.is_cuda()) return fail("the activations are not on a CUDA device");
  const cudaDeviceProp* props = at::cuda::getDeviceProperties(device.index());
  if (props->major != 9 && props->major != 10) {
    return fail(
        "torch::_grouped_mm's fast path needs compute capability 9.x or 10.x, this GPU is " +
        std::to_string(props->major) + "." + std::to_string(props->minor));
  }
  // 8 bf16 elements make the 16 bytes its TMA loads need; 16 is what torch's own grouped GEMMs
  // have asked for in some versions, and what every real model's sizes satisfy.
  if (hidden % 16 != 0 || inter % 16 != 0) {
    return fail("hidden (" + std::to_string(hidden) + ") and moe_intermediate_size (" +
                std::to_string(inter) + ") must be multiples of 16 for torch::_grouped_mm");
  }
  if (experts >= 1024) {
    return fail("torch::_grouped_mm takes fewer than 1024 groups, this layer has " +
                std::to_string(experts) + " experts");
  }
  return true;
}

ExpertGemms::ExpertGemms(ExpertWeights weights, bool grouped, torch::Tensor group_end,
                         std::vector<int64_t> row_start)
    : w_(std::move(weights)),
      grouped_(grouped),
      group_end_(std::move(group_end)),
      row_start_(std::move(row_start)),
      inter_(w_.gate.at(0).size(0)) {
  TORCH_CHECK(row_start_.empty() || static_cast<int64_t>(row_start_.size()) == w_.count() + 1,
              "ExpertGemms: expected ", w_.count() + 1, " row starts, got ", row_start_.size());
}

void ExpertGemms::require_row_start(const char* what) const {
  TORCH_CHECK(!row_start_.empty(), "ExpertGemms::", what,
              " needs the expert row counts on the host (internal error)");
}

const torch::Tensor& ExpertGemms::gate_up_stack() const {
  if (!gate_up_stack_.defined()) {
    // [g_0; u_0; g_1; u_1; ...] in one cat, viewed as [E, 2 * inter, hidden].
    std::vector<torch::Tensor> parts;
    parts.reserve(static_cast<size_t>(2 * w_.count()));
    for (int64_t e = 0; e < w_.count(); ++e) {
      parts.push_back(w_.gate[e]);
      parts.push_back(w_.up[e]);
    }
    gate_up_stack_ = torch::cat(parts, 0).view({w_.count(), 2 * inter_, -1});
  }
  return gate_up_stack_;
}

const torch::Tensor& ExpertGemms::down_stack() const {
  if (!down_stack_.defined()) down_stack_ = torch::stack(w_.down, 0);
  return down_stack_;
}

torch::Tensor ExpertGemms::gate_up(const torch::Tensor& xs) const {
  if (grouped_) return grouped_mm(xs, gate_up_stack().transpose(1, 2), group_end_);
  require_row_start("gate_up");
  auto gu = torch::empty({xs.size(0), 2 * inter_}, xs.options());
  for (int64_t e = 0; e < w_.count(); ++e) {
    if (rows_of(e) == 0) continue;
    auto x_e = xs.narrow(0, row_start_[e], rows_of(e));
    auto gu_e = gu.narrow(0, row_start_[e], rows_of(e));
    auto g = gu_e.narrow(1, 0, inter_), u = gu_e.narrow(1, inter_, inter_);
    torch::mm_out(g, x_e, w_.gate[e].t());
    torch::mm_out(u, x_e, w_.up[e].t());
  }
  return gu;
}

torch::Tensor ExpertGemms::down(const torch::Tensor& h) const {
  if (grouped_) return grouped_mm(h, down_stack().transpose(1, 2), group_end_);
  require_row_start("down");
  auto y = torch::empty({h.size(0), w_.down.at(0).size(0)}, h.options());
  for (int64_t e = 0; e < w_.count(); ++e) {
    if (rows_of(e) == 0) continue;
    auto y_e = y.narrow(0, row_start_[e], rows_of(e));
    torch::mm_out(y_e, h.narrow(0, row_start_[e], rows_of(e)), w_.down[e].t());
  }
  return y;
}

torch::Tensor ExpertGemms::down_input_grad(const torch::Tensor& dy) const {
  if (grouped_) return grouped_mm(dy, down_stack(), group_end_);
  require_row_start("down_input_grad");
  auto dh = torch::empty({dy.size(0), inter_}, dy.options());
  for (int64_t e = 0; e < w_.count(); ++e) {
    if (rows_of(e) == 0) continue;
    auto dh_e = dh.narrow(0, row_start_[e], rows_of(e));
    torch::mm_out(dh_e, dy.narrow(0, row_start_[e], rows_of(e)), w_.down[e]);
  }
  return dh;
}

torch::Tensor ExpertGemms::gate_up_input_grad(const torch::Tensor& dgu) const {
  if (grouped_) return grouped_mm(dgu, gate_up_stack(), group_end_);
  require_row_start("gate_up_input_grad");
  auto dxs = torch::empty({dgu.size(0), w_.gate.at(0).size(1)}, dgu.options());
  for (int64_t e = 0; e < w_.count(); ++e) {
    if (rows_of(e) == 0) continue;
    auto dgu_e = dgu.narrow(0, row_start_[e], rows_of(e));
    auto dxs_e = dxs.narrow(0, row_start_[e], rows_of(e));
    torch::mm_out(dxs_e, dgu_e.narrow(1, 0, inter_), w_.gate[e]);
    dxs_e.addmm_(dgu_e.narrow(1, inter_, inter_), w_.up[e]);
  }
  return dxs;
}

std::vector<torch::Tensor> ExpertGemms::down_weight_grads(const torch::Tensor& dy,
                                                          const torch::Tensor& h) const {
  require_row_start("down_weight_grads");
  std::vector<torch::Tensor> grads(static_cast<size_t>(w_.count()));
  // [E, hidden, inter]; an expert's slice is contiguous, so it becomes its .grad as it is.
  torch::Tensor all = grouped_ ? grouped_mm(dy.t(), h, group_end_) : torch::Tensor();
  for (int64_t e = 0; e < w_.count(); ++e) {
    if (rows_of(e) == 0) continue;
    grads[e] = grouped_ ? all[e]
                        : torch::mm(dy.narrow(0, row_start_[e], rows_of(e)).t(),
                                    h.narrow(0, row_start_[e], rows_of(e)));
  }
  return grads;
}

void ExpertGemms::gate_up_weight_grads(const torch::Tensor& dgu, const torch::Tensor& xs,
                                       std::vector<torch::Tensor>& dgate,
                                       std::vector<torch::Tensor>& dup) const {
  require_row_start("gate_up_weight_grads");
  dgate.assign(static_cast<size_t>(w_.count()), torch::Tensor());
  dup.assign(static_cast<size_t>(w_.count()), torch::Tensor());
  torch::Tensor all = grouped_ ? grouped_mm(dgu.t(), xs, group_end_) : torch::Tensor();
  for (int64_t e = 0; e < w_.count(); ++e) {
    if (rows_of(e) == 0) continue;
    if (grouped_) {
      dgate[e] = all[e].narrow(0, 0, inter_);
      dup[e] = all[e].narrow(0, inter_, inter_);
    } else {
      auto dgu_e = dgu.narrow(0, row_start_[e], rows_of(e));
      auto x_e = xs.narrow(0, row_start_[e], rows_of(e));
      dgate[e] = torch::mm(dgu_e.narrow(1, 0, inter_).t(), x_e);
      dup[e] = torch::mm(dgu_e.narrow(1, inter_, inter_).t(), x_e);
    }
  }
}

}  // namespace fusebox::ops
