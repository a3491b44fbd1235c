// The key/value cache of incremental decoding: each attention layer's rotated keys and its
// values for every position seen so far, so a new token attends to them without recomputing
// the prefix. Buffers are allocated once for the whole generation (max_length positions) and
// filled in place; `length` is how many positions hold data.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/qwen3_config.h"

namespace fusebox::model {

struct LayerKVCache {
  torch::Tensor keys;    // [B, num_kv_heads, max_length, head_dim], after q/k norm and RoPE
  torch::Tensor values;  // [B, num_kv_heads, max_length, head_dim]
};

class KVCache {
 public:
  // Room for max_length positions of `batch` sequences, in `options`' dtype and device.
  KVCache(const Qwen3Config& config, int64_t batch, int64_t max_length,
          const torch::TensorOptions& options);

  // Positions already cached; the next forward's tokens take positions length() onwards.
  int64_t length() const { return length_; }
  int64_t max_length() const { return max_length_; }
  LayerKVCache& layer(int64_t index) { return layers_.at(static_cast<std::size_t>(index)); }

  // Called by the model once every layer has stored `count` new positions. Throws
  // fusebox::Error when that would pass max_length.
  void advance(int64_t count);
  // Checks, before a forward of `count` new tokens, that they fit.
  void check_room(int64_t count) const;

 private:
  std::vector<LayerKVCache> layers_;
  int64_t max_length_;
  int64_t length_ = 0;
};

}  // namespace fusebox::model
