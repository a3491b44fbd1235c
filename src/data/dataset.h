// The dataset interface the batcher and the trainer see, and the factory for the built-in
// datasets ("builtin:addition"). Text and JSONL files are token_dataset.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "data/example.h"

namespace fusebox::data {

enum class Split { kTrain, kEval };

// "train" / "eval", for messages.
const char* split_name(Split split);

// A finite, random-access list of examples. get() is const and deterministic: the same
// index gives the same example however often and in whatever order it is asked for, which
// is what lets the batcher reshuffle per epoch and a run resume at any position.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::size_t size() const = 0;
  // Throws DataError when i >= size().
  virtual Example get(std::size_t i) const = 0;
  // The spec it was made from, e.g. "builtin:addition".
  virtual std::string name() const = 0;
};

// Settings for the built-in synthetic datasets; mirrors config::SyntheticConfig (the data
// layer does not depend on config) plus the run's seed.
struct SyntheticOptions {
  int64_t max_digits = 3;
  int64_t train_size = 20000;  // used for Split::kTrain
  int64_t eval_size = 256;     // used for Split::kEval
  uint64_t seed = 42;
};

// Specs that start with "builtin:" name a dataset fusebox generates; anything else is a file.
bool is_builtin_dataset(const std::string& spec);

// "builtin:addition" -> AdditionDataset. Anything else throws DataError naming the
// supported specs.
std::unique_ptr<Dataset> make_dataset(const std::string& spec, Split split,
                                      const SyntheticOptions& options);

}  // namespace fusebox::data
