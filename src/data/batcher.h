// Turns a Dataset into micro-batches: a deterministic shuffle per epoch, truncation to
// cutoff_len, right padding to the longest row of the batch. Plain std::vectors in row-major
// [batch_size, seq_len] order; the trainer wraps them in tensors (this layer is torch-free).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "data/dataset.h"

namespace fusebox::data {

struct Batch {
  int64_t batch_size = 0;
  int64_t seq_len = 0;
  std::vector<int64_t> input_ids;  // [batch_size * seq_len], padding = the batcher's pad_id
  std::vector<int64_t> labels;     // [batch_size * seq_len], kIgnoreIndex on padding
  // [batch_size * seq_len]: 1 on real tokens, 0 on padding. Padding cannot be told from the
  // ids, since a tokenizer's pad may be its eos (Qwen pads with <|endoftext|>).
  std::vector<int64_t> attention_mask;
  // Labels that become loss targets once the model shifts them: labels[r][t] !=
  // kIgnoreIndex for t >= 1 (labels[r][0] is never predicted). The trainer divides the summed
  // loss of a gradient-accumulation step by the total of these, not by a per-batch mean.
  int64_t num_label_tokens = 0;
};

// Where the batcher is: `index` is the batch that next() returns next within `epoch`.
// index == batches_per_epoch() is a finished epoch; next() then starts epoch + 1.
struct BatcherPosition {
  int64_t epoch = 0;
  int64_t index = 0;
};

// An epoch is batches_per_epoch() batches of micro_batch_size rows each, taken in the order of
// a shuffle seeded with seed + epoch, so any epoch's order can be rebuilt from the seed alone
// (which is what set_position() does on resume).
//
// A dataset larger than one batch drops its last incomplete batch each epoch: every step
// then sees the same number of rows, and the dropped examples differ from epoch to epoch.
// A dataset of at most micro_batch_size examples gives one batch of all of them per epoch
// (smaller than micro_batch_size), since dropping it would leave nothing to train on.
class Batcher {
 public:
  // `dataset` must outlive the batcher. Throws DataError on an empty dataset,
  // micro_batch_size < 1 or cutoff_len < 1.
  Batcher(const Dataset& dataset, int64_t micro_batch_size, int64_t cutoff_len, uint64_t seed,
          int64_t pad_id);

  // The next batch; moves to the next epoch (reshuffling) when this one is finished.
  Batch next();

  // The epoch of the batch returned last (0 before the first).
  int64_t epoch() const { return position_.epoch; }
  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  // Rows in every batch: min(micro_batch_size, dataset size).
  int64_t batch_size() const { return batch_size_; }

  BatcherPosition position() const { return position_; }
  // Continues a run: next() then returns batch `index` of `epoch`, exactly as an
  // uninterrupted batcher with the same dataset and seed would. Throws DataError when epoch < 0
  // or index is outside [0, batches_per_epoch()].
  void set_position(int64_t epoch, int64_t index);

  // Examples cut to cutoff_len so far (the first is also logged as a warning).
  int64_t truncated_examples() const { return truncated_examples_; }

 private:
  void shuffle_for_epoch(int64_t epoch);

  const Dataset* dataset_;
  int64_t cutoff_len_;
  uint64_t seed_;
  int64_t pad_id_;
  int64_t batch_size_;
  int64_t batches_per_epoch_;
  BatcherPosition position_;
  std::vector<std::size_t> order_;  // dataset indices in this epoch's order
  int64_t truncated_examples_ = 0;
};

}  // namespace fusebox::data
