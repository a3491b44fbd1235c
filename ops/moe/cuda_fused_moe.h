// Launchers of the CUDA MoE kernels: the routing sort (cuda_moe_routing.cu) and the
// elementwise stages around the expert GEMMs (cuda_fused_moe.cu). Torch-free: raw device
// pointers, sizes, the storage dtype and a stream. Nothing synchronises the host; errors throw
// std::runtime_error.
//
// Vocabulary: T tokens each pick top_k experts; assignment a = t * top_k + slot indexes the
// flattened [T, top_k] routing. The T * top_k assignments are sorted by expert into "rows":
// expert e owns rows [group_end[e - 1], group_end[e]). Activation buffers are contiguous
// row-major [rows or tokens, width] of `dtype`; routing weights are [T * top_k] of `dtype`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/common/cuda_common.cuh"

namespace fusebox::ops::cuda {

// The routing sort keeps one counter per expert in a single block's threads.
constexpr int64_t kMoeMaxExperts = 1024;

// int32 elements of device scratch that moe_sort_by_expert needs.
int64_t moe_sort_scratch_elements(int64_t assignments, int64_t num_experts);

// Stable counting sort of the assignments by expert. expert_ids: int64 [tokens * top_k], every
// id in [0, num_experts) (torch::topk's indices; not checked). Writes, all int32:
//   group_end[e]           end row of expert e's block (cumulative: torch._grouped_mm's offs)
//   group_rows[e]          rows of expert e
//   sorted_assignment[r]   the assignment on row r; an expert's rows keep ascending a
//   token_rows[t * top_k + i]  token t's rows in ascending order, i.e. in expert order
void moe_sort_by_expert(const int64_t* expert_ids, int64_t tokens, int64_t top_k,
                        int64_t num_experts, int32_t* scratch, int32_t* group_end,
                        int32_t* group_rows, int32_t* sorted_assignment, int32_t* token_rows,
                        cudaStream_t stream);

// xs[r] = x[sorted_assignment[r] / top_k]: x [tokens, hidden] -> xs [rows, hidden].
void moe_gather_rows(const void* x, const int32_t* sorted_assignment, int64_t rows, int64_t top_k,
                     int64_t hidden, void* xs, DType dtype, cudaStream_t stream);

// gu = [g | u] per row ([rows, 2 * inter]) -> h = round(round(silu(g)) * u) ([rows, inter]),
// the reference MLP's silu and multiply, each rounded to the storage dtype.
void moe_swiglu_forward(const void* gu, int64_t rows, int64_t inter, void* h, DType dtype,
                        cudaStream_t stream);

// The backward of moe_swiglu_forward from dh [rows, inter]: dgu = [dg | du] ([rows, 2 * inter])
// as autograd computes them (mul backward, then silu_backward), and h recomputed (the down
// projection's weight gradient needs it; saving it would cost rows * inter between passes).
void moe_swiglu_backward(const void* gu, const void* dh, int64_t rows, int64_t inter, void* dgu,
                         void* h, DType dtype, cudaStream_t stream);

// out[t] = sum over token t's rows r, in expert order, of round(y[r] * w[a(r)]), rounding the
// running sum after each add: the reference's index_add_ into a zero buffer, expert by expert.
void moe_combine_forward(const void* y, const void* weights, const int32_t* sorted_assignment,
                         const int32_t* token_rows, int64_t tokens, int64_t top_k, int64_t hidden,
                         void* out, DType dtype, cudaStream_t stream);

// Per row r with a = sorted_assignment[r] and t = a / top_k:
//   dy[r] = round(dout[t] * w[a]);   dweights[a] = round(sum_h round(dout[t, h] * y[r, h]))
// (the weighting multiply's backward; dweights [tokens * top_k]).
void moe_combine_backward(const void* dout, const void* y, const void* weights,
                          const int32_t* sorted_assignment, int64_t rows, int64_t top_k,
                          int64_t hidden, void* dy, void* dweights, DType dtype,
                          cudaStream_t stream);

// dx[t] = sum of dxs over token t's rows, in fp32 in expert order, rounded once (the gather's
// backward, without atomics).
void moe_sum_token_rows(const void* dxs, const int32_t* token_rows, int64_t tokens, int64_t top_k,
                        int64_t hidden, void* dx, DType dtype, cudaStream_t stream);

}  // namespace fusebox::ops::cuda
