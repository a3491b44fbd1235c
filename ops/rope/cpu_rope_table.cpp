#include "ops/rope/cpu_rope_table.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

namespace fusebox::ops {
namespace {

// Grow geometrically so that a sequence length that creeps up costs O(log n) rebuilds, and
// start at a size that covers typical training contexts in one build (2 MB at head_dim 128).
constexpr int64_t kMinPositions = 4096;

std::shared_ptr<const RopeTable> build_table(const model::RotaryEmbeddingImpl& layer,
                                             torch::ScalarType dtype, int64_t positions) {
  torch::NoGradGuard no_grad;
  auto ids = torch::arange(positions, torch::TensorOptions().dtype(torch::kInt64)).unsqueeze(0);
  // The reference's own function and ops: [1, P, D] fp32, of which the first half is enough.
  auto [cos, sin] = layer.cos_sin(ids);
  int64_t half = layer.head_dim() / 2;
  auto table = std::make_shared<RopeTable>();
  table->head_dim = layer.head_dim();
  table->theta = layer.rope_theta();
  table->dtype = dtype;
  table->positions = positions;
  // The reference's cast to the activations' dtype, kept in fp32 for the kernel's math.
  table->cos = cos[0].slice(1, 0, half).to(dtype).to(torch::kFloat32).contiguous();
  table->sin = sin[0].slice(1, 0, half).to(dtype).to(torch::kFloat32).contiguous();
  return table;
}

}  // namespace

std::shared_ptr<const RopeTable> cpu_rope_table(const model::RotaryEmbeddingImpl& layer,
                                                torch::ScalarType dtype, int64_t min_positions) {
  using Key = std::tuple<int64_t, double, torch::ScalarType>;
  static std::mutex mutex;
  static std::map<Key, std::shared_ptr<const RopeTable>> tables;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = tables[Key{layer.head_dim(), layer.rope_theta(), dtype}];
  if (!slot || slot->positions < min_positions) {
    int64_t grown = slot ? 2 * slot->positions : kMinPositions;
    // Readers holding the old table keep it alive through their shared_ptr.
    slot = build_table(layer, dtype, std::max(min_positions, grown));
  }
  return slot;
}

}  // namespace fusebox::ops
