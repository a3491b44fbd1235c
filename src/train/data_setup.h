// The tokenizer and datasets of a run, built from the config's data keys (tokenizer,
// train_dataset, eval_dataset, text_field, packing, cutoff_len, synthetic.*). One call, so the
// trainer's only knowledge of data is "a tokenizer, a training set, maybe an eval set".
#pragma once

#include <cstdint>
#include <memory>

#include "config/train_config.h"
#include "data/dataset.h"
#include "data/tokenizer.h"

namespace fusebox::train {

struct TrainingData {
  std::unique_ptr<data::Tokenizer> tokenizer;
  std::unique_ptr<data::Dataset> train;
  std::unique_ptr<data::Dataset> eval;  // null when the config has no eval_dataset
};

// The tokenizer: `tokenizer: byte` or a path (a tokenizer.json or a directory holding one);
// when unset, byte-level if every dataset is builtin, else the model directory's
// tokenizer.json. Throws ConfigError when a file dataset has no tokenizer to use, when a
// builtin dataset is given another tokenizer than the byte-level one it is written in, or when
// the tokenizer has more ids than model_vocab_size; DataError for unreadable data.
TrainingData load_training_data(const config::TrainConfig& cfg, int64_t model_vocab_size);

}  // namespace fusebox::train
