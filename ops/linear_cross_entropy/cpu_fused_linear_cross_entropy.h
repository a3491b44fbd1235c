// The chunked linear + cross-entropy of cpu_fused_linear_cross_entropy, exposed for the parity
// tests and the benchmarks (the kernel itself is installed into model::LMHeadLossImpl through
// the registry).
#pragma once

#include <torch/torch.h>

namespace fusebox::ops {

// Rows per chunk chosen for a vocabulary of `vocab`: about 32M fp32 logits per chunk, within
// [16, 1024] rows, so the chunk's GEMMs stay efficient and memory stays flat in vocab.
int64_t linear_cross_entropy_chunk_rows(int64_t vocab);

// causal_lm_loss(linear(hidden, weight), labels, normalizer) with autograd for hidden and
// weight, never holding more than `chunk_rows` rows of logits (0: the default above).
// hidden [B, S, H] and weight [V, H]: fp32 or bf16 on CPU, one dtype; labels int64 [B, S].
// Returns an fp32 scalar.
torch::Tensor cpu_linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                       const torch::Tensor& labels, double normalizer,
                                       int64_t chunk_rows = 0);

}  // namespace fusebox::ops
