// The chunked linear + cross-entropy of cuda_fused_linear_cross_entropy, exposed for the CUDA
// parity tests and the benchmarks (the kernel itself is installed into model::LMHeadLossImpl
// through the registry). Built only with a CUDA libtorch (FUSEBOX_WITH_CUDA).
#pragma once

#include <torch/torch.h>

namespace fusebox::ops {

// Rows of logits per chunk for `rows` tokens and a vocabulary of `vocab` in `dtype`: chunks
// of at most 256 MiB of logits, all of about the same size.
int64_t cuda_linear_cross_entropy_chunk_rows(int64_t rows, int64_t vocab, torch::ScalarType dtype);

// causal_lm_loss(linear(hidden, weight), labels, normalizer) with autograd for hidden and
// weight, never holding more than `chunk_rows` rows of logits (0: the default above).
// hidden [B, S, H] and weight [V, H]: fp32, bf16 or fp16 on one CUDA device, one dtype;
// labels int64 [B, S] (any device). Returns an fp32 scalar. No host synchronisation.
torch::Tensor cuda_linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                        const torch::Tensor& labels, double normalizer,
                                        int64_t chunk_rows = 0);

}  // namespace fusebox::ops
