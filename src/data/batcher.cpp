#include "data/batcher.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "data/portable_random.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strings.h"

namespace fusebox::data {

Batcher::Batcher(const Dataset& dataset, int64_t micro_batch_size, int64_t cutoff_len,
                 uint64_t seed, int64_t pad_id)
    : dataset_(&dataset),
      cutoff_len_(cutoff_len),
      seed_(seed),
      pad_id_(pad_id),
      batch_size_(0),
      batches_per_epoch_(0) {
  const int64_t n = static_cast<int64_t>(dataset.size());
  if (n < 1) throw DataError(str("dataset '", dataset.name(), "' is empty; nothing to batch"));
  if (micro_batch_size < 1) {
    throw DataError(str("micro_batch_size must be >= 1, but got ", micro_batch_size));
  }
  if (cutoff_len < 1) throw DataError(str("cutoff_len must be >= 1, but got ", cutoff_len));
  batch_size_ = std::min(micro_batch_size, n);
  batches_per_epoch_ = n / batch_size_;
  shuffle_for_epoch(0);
}

void Batcher::shuffle_for_epoch(int64_t epoch) {
  order_.resize(dataset_->size());
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  std::mt19937_64 rng(seed_ + static_cast<uint64_t>(epoch));
  portable_shuffle(order_, rng);
}

void Batcher::set_position(int64_t epoch, int64_t index) {
  if (epoch < 0 || index < 0 || index > batches_per_epoch_) {
    throw DataError(str("batcher position (epoch ", epoch, ", batch ", index,
                        ") is invalid: expected epoch >= 0 and batch in [0, ", batches_per_epoch_,
                        "] for dataset '", dataset_->name(), "' of ", dataset_->size(),
                        " examples at batch size ", batch_size_));
  }
  if (epoch != position_.epoch) shuffle_for_epoch(epoch);
  position_ = {epoch, index};
}

Batch Batcher::next() {
  if (position_.index == batches_per_epoch_) {
    position_ = {position_.epoch + 1, 0};
    shuffle_for_epoch(position_.epoch);
  }

  // Fetch and truncate first: the padded width is only known once every row is in.
  std::vector<Example> rows;
  rows.reserve(static_cast<std::size_t>(batch_size_));
  int64_t seq_len = 0;
  const std::size_t first = static_cast<std::size_t>(position_.index * batch_size_);
  for (std::size_t r = 0; r < static_cast<std::size_t>(batch_size_); ++r) {
    const std::size_t index = order_[first + r];
    Example ex = dataset_->get(index);
    if (ex.input_ids.size() != ex.labels.size() || ex.input_ids.empty()) {
      throw DataError(str("dataset '", dataset_->name(), "' example ", index, " has ",
                          ex.input_ids.size(), " input ids and ", ex.labels.size(),
                          " labels; expected the same non-zero number"));
    }
    const std::size_t cutoff = static_cast<std::size_t>(cutoff_len_);
    if (ex.input_ids.size() > cutoff) {
      if (truncated_examples_ == 0) {
        log::warn("dataset '", dataset_->name(), "' example ", index, " has ", ex.input_ids.size(),
                  " tokens; truncated to cutoff_len ", cutoff_len_,
                  " (later truncations are counted, not logged)");
      }
      ++truncated_examples_;
      ex.input_ids.resize(cutoff);
      ex.labels.resize(cutoff);
    }
    seq_len = std::max(seq_len, static_cast<int64_t>(ex.input_ids.size()));
    rows.push_back(std::move(ex));
  }

  Batch batch;
  batch.batch_size = batch_size_;
  batch.seq_len = seq_len;
  const std::size_t total = static_cast<std::size_t>(batch_size_ * seq_len);
  batch.input_ids.assign(total, pad_id_);
  batch.labels.assign(total, kIgnoreIndex);
  batch.attention_mask.assign(total, 0);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const Example& ex = rows[r];
    const std::size_t offset = r * static_cast<std::size_t>(seq_len);
    std::copy(ex.input_ids.begin(), ex.input_ids.end(), batch.input_ids.begin() + offset);
    std::copy(ex.labels.begin(), ex.labels.end(), batch.labels.begin() + offset);
    std::fill_n(batch.attention_mask.begin() + offset, ex.input_ids.size(), 1);
    batch.num_label_tokens += std::count_if(ex.labels.begin() + 1, ex.labels.end(),
                                            [](int64_t label) { return label != kIgnoreIndex; });
  }
  ++position_.index;
  return batch;
}

}  // namespace fusebox::data
