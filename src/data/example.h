// One training example as token ids, the unit every dataset hands to the batcher.
#pragma once

#include <cstdint>
#include <vector>

namespace fusebox::data {

// Label of a position that is not trained (prompt, padding); the value PyTorch's
// cross_entropy ignores by default.
constexpr int64_t kIgnoreIndex = -100;

// labels has the length of input_ids. labels[i] == input_ids[i] where position i is trained,
// kIgnoreIndex elsewhere. Labels are NOT shifted: the model predicts labels[i + 1] from
// position i itself (the transformers convention), so labels[0] is never a target.
struct Example {
  std::vector<int64_t> input_ids;
  std::vector<int64_t> labels;
};

}  // namespace fusebox::data
