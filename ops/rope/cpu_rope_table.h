// The process-wide cos/sin table of cpu_fused_rope, one per (head_dim, rope_theta, dtype).
//
// Qwen3's cos/sin for position p depend only on p, head_dim and theta, so the table is built
// once and shared by every attention layer of the model (and by every model with the same
// head_dim/theta). It is grown, never shrunk, when a position beyond it shows up.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>

#include "model/rope.h"

namespace fusebox::ops {

// cos and sin: fp32 [positions, head_dim / 2], contiguous. Only half of head_dim is stored:
// transformers' emb = cat(freqs, freqs) repeats the same angle in both halves. For a bf16 or
// fp16 `dtype` the values are already rounded to it (stored as fp32), as the reference casts
// cos/sin to the activations' dtype before rotating. Immutable once built; a caller keeps its
// shared_ptr (or the tensors) for as long as it reads them.
struct RopeTable {
  int64_t head_dim = 0;
  double theta = 0;
  torch::ScalarType dtype = torch::kFloat32;
  int64_t positions = 0;
  torch::Tensor cos, sin;
};

// A table for layer.head_dim()/layer.rope_theta() and `dtype` covering positions
// [0, min_positions). Thread-safe. The values are the reference's own
// (RotaryEmbeddingImpl::cos_sin on positions 0..P-1, then the same cast to `dtype`), so the
// kernel rotates with exactly the numbers the reference uses.
std::shared_ptr<const RopeTable> cpu_rope_table(const model::RotaryEmbeddingImpl& layer,
                                                torch::ScalarType dtype, int64_t min_positions);

}  // namespace fusebox::ops
