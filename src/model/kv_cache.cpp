#include "model/kv_cache.h"

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::model {

KVCache::KVCache(const Qwen3Config& c, int64_t batch, int64_t max_length,
                 const torch::TensorOptions& options)
    : max_length_(max_length) {
  if (batch < 1 || max_length < 1)
    throw Error(
        str("KV cache: batch (", batch, ") and max_length (", max_length, ") must be at least 1"));
  layers_.resize(static_cast<std::size_t>(c.num_hidden_layers));
  for (auto& l : layers_) {
    l.keys = torch::empty({batch, c.num_key_value_heads, max_length, c.head_dim}, options);
    l.values = torch::empty_like(l.keys);
  }
}

void KVCache::check_room(int64_t count) const {
  if (length_ + count > max_length_)
    throw Error(str("KV cache: ", count, " new positions after ", length_,
                    " cached ones exceed its max_length of ", max_length_));
}

void KVCache::advance(int64_t count) {
  check_room(count);
  length_ += count;
}

}  // namespace fusebox::model
