// The expert GEMMs of cuda_fused_moe, on rows already sorted by expert (expert e owns rows
// [start[e], start[e + 1])). Two ways to run them:
//   grouped: torch::_grouped_mm (torch >= 2.8) -- one launch for all experts, the block
//            boundaries read on the device (int32 cumulative offsets), so the forward never
//            waits for the host. The per-expert weights are stacked into [E, ...] tensors for
//            it (one copy of the expert weights per pass; freed when the pass ends).
//   loop:    one cuBLAS GEMM per expert on its contiguous block, straight on the layer's own
//            weights. Needs the block boundaries on the host: one sync per forward.
// cuda_moe_grouped_gemm_supported() says which one a forward uses.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace fusebox::ops {

// The layer's expert weights, in Linear layout [out, in] (no copies).
struct ExpertWeights {
  std::vector<torch::Tensor> gate;  // [inter, hidden] each
  std::vector<torch::Tensor> up;    // [inter, hidden]
  std::vector<torch::Tensor> down;  // [hidden, inter]
  int64_t count() const { return static_cast<int64_t>(gate.size()); }
};

// True when torch::_grouped_mm's fast path serves these experts: torch >= 2.8, bf16 (the only
// dtype it runs without a host sync), a CUDA device of compute capability 9.x or 10.x, hidden
// and inter multiples of 16 (16-byte aligned rows for its TMA loads, with margin), fewer than
// 1024 experts.
// Otherwise false, and `why` (if given) names the first condition that failed.
bool cuda_moe_grouped_gemm_supported(torch::ScalarType dtype, const torch::Device& device,
                                     int64_t hidden, int64_t inter, int64_t experts,
                                     std::string* why = nullptr);

class ExpertGemms {
 public:
  // group_end: int32 [E] on the device (block ends). row_start: [E + 1] on the host, or empty
  // when not known yet; the loop path and the weight gradients need it.
  ExpertGemms(ExpertWeights weights, bool grouped, torch::Tensor group_end,
              std::vector<int64_t> row_start);

  // Forward: [rows, 2 * inter] = xs_e [Wg_e; Wu_e]^T (gate in the first half), and
  // [rows, hidden] = h_e Wd_e^T.
  torch::Tensor gate_up(const torch::Tensor& xs) const;
  torch::Tensor down(const torch::Tensor& h) const;

  // Input gradients: dh = dy_e Wd_e ([rows, inter]); dxs = dg_e Wg_e + du_e Wu_e ([rows, hidden]).
  torch::Tensor down_input_grad(const torch::Tensor& dy) const;
  torch::Tensor gate_up_input_grad(const torch::Tensor& dgu) const;

  // Weight gradients per expert: dWd_e = dy_e^T h_e, dWg_e = dg_e^T xs_e, dWu_e = du_e^T xs_e.
  // Undefined for an expert without rows: as in the reference, it did not run.
  std::vector<torch::Tensor> down_weight_grads(const torch::Tensor& dy,
                                               const torch::Tensor& h) const;
  void gate_up_weight_grads(const torch::Tensor& dgu, const torch::Tensor& xs,
                            std::vector<torch::Tensor>& dgate,
                            std::vector<torch::Tensor>& dup) const;

 private:
  int64_t rows_of(int64_t e) const { return row_start_[e + 1] - row_start_[e]; }
  void require_row_start(const char* what) const;
  const torch::Tensor& gate_up_stack() const;  // [E, 2 * inter, hidden], built on first use
  const torch::Tensor& down_stack() const;     // [E, hidden, inter]

  ExpertWeights w_;
  bool grouped_;
  torch::Tensor group_end_;
  std::vector<int64_t> row_start_;
  int64_t inter_;
  mutable torch::Tensor gate_up_stack_, down_stack_;
};

}  // namespace fusebox::ops
