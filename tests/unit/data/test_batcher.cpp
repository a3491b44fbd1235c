// Unit tests for the batcher: shapes, padding, labels and attention mask, per-epoch shuffles,
// truncation, resuming.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "data/addition_task.h"
#include "data/batcher.h"
#include "data/byte_tokenizer.h"
#include "data/dataset.h"
#include "data/example.h"
#include "data_test_util.h"

namespace fusebox::data {
namespace {

using testing::expect_data_error;

// Example i has 2 + i % 5 tokens: input_ids = [i, i + 1000, i + 2000, ...], the first token
// unlabelled, the rest labelled. input_ids[0] tells which example a row holds.
class VariableLengthDataset : public Dataset {
 public:
  explicit VariableLengthDataset(std::size_t n) : n_(n) {}
  std::size_t size() const override { return n_; }
  Example get(std::size_t i) const override {
    Example ex;
    const std::size_t len = 2 + i % 5;
    for (std::size_t t = 0; t < len; ++t) {
      const int64_t id = static_cast<int64_t>(i + 1000 * t);
      ex.input_ids.push_back(id);
      ex.labels.push_back(t == 0 ? kIgnoreIndex : id);
    }
    return ex;
  }
  std::string name() const override { return "variable"; }

 private:
  std::size_t n_;
};

constexpr int64_t kPad = ByteTokenizer::kPadId;

std::vector<int64_t> row_examples(const Batch& b) {
  std::vector<int64_t> out;
  for (int64_t r = 0; r < b.batch_size; ++r)
    out.push_back(b.input_ids[r * b.seq_len]);
  return out;
}

TEST(Batcher, ShapesPaddingAndLabels) {
  VariableLengthDataset ds(23);
  Batcher batcher(ds, 4, 1024, 11, kPad);
  EXPECT_EQ(batcher.batches_per_epoch(), 5);  // 23 / 4, last 3 examples dropped
  EXPECT_EQ(batcher.batch_size(), 4);
  for (int step = 0; step < 5; ++step) {
    const Batch b = batcher.next();
    ASSERT_EQ(b.batch_size, 4);
    ASSERT_EQ(b.input_ids.size(), static_cast<std::size_t>(b.batch_size * b.seq_len));
    ASSERT_EQ(b.labels.size(), b.input_ids.size());
    ASSERT_EQ(b.attention_mask.size(), b.input_ids.size());
    int64_t longest = 0;
    int64_t targets = 0;
    for (int64_t r = 0; r < b.batch_size; ++r) {
      const int64_t i = b.input_ids[r * b.seq_len];
      const Example ex = ds.get(static_cast<std::size_t>(i));
      const int64_t len = static_cast<int64_t>(ex.input_ids.size());
      longest = std::max(longest, len);
      for (int64_t t = 0; t < b.seq_len; ++t) {
        const int64_t id = b.input_ids[r * b.seq_len + t];
        const int64_t label = b.labels[r * b.seq_len + t];
        if (t < len) {
          EXPECT_EQ(id, ex.input_ids[t]);
          EXPECT_EQ(label, ex.labels[t]);
          EXPECT_EQ(b.attention_mask[r * b.seq_len + t], 1);
          if (t >= 1 && label != kIgnoreIndex) ++targets;
        } else {
          EXPECT_EQ(id, kPad);
          EXPECT_EQ(label, kIgnoreIndex);
          EXPECT_EQ(b.attention_mask[r * b.seq_len + t], 0);
        }
      }
    }
    EXPECT_EQ(b.seq_len, longest);
    EXPECT_EQ(b.num_label_tokens, targets);
  }
  EXPECT_EQ(batcher.epoch(), 0);
  batcher.next();
  EXPECT_EQ(batcher.epoch(), 1);
}

TEST(Batcher, EpochIsAPermutationAndReshufflesDeterministically) {
  VariableLengthDataset ds(24);
  Batcher a(ds, 6, 1024, 5, kPad);
  Batcher b(ds, 6, 1024, 5, kPad);
  std::vector<std::vector<int64_t>> epochs;
  for (int e = 0; e < 3; ++e) {
    std::vector<int64_t> order;
    for (int64_t k = 0; k < a.batches_per_epoch(); ++k) {
      const Batch ba = a.next();
      const Batch bb = b.next();
      EXPECT_EQ(ba.input_ids, bb.input_ids);
      EXPECT_EQ(ba.labels, bb.labels);
      for (int64_t i : row_examples(ba))
        order.push_back(i);
    }
    EXPECT_EQ(a.epoch(), e);
    EXPECT_EQ(std::set<int64_t>(order.begin(), order.end()).size(), 24u);
    epochs.push_back(order);
  }
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
  // Another seed gives another order.
  Batcher c(ds, 6, 1024, 6, kPad);
  std::vector<int64_t> other;
  for (int64_t k = 0; k < c.batches_per_epoch(); ++k) {
    for (int64_t i : row_examples(c.next()))
      other.push_back(i);
  }
  EXPECT_NE(other, epochs[0]);
}

TEST(Batcher, TruncatesToCutoffLen) {
  VariableLengthDataset ds(10);  // lengths 2..6
  Batcher batcher(ds, 10, 3, 1, kPad);
  const Batch b = batcher.next();
  EXPECT_EQ(b.batch_size, 10);
  EXPECT_EQ(b.seq_len, 3);
  int64_t targets = 0;
  for (int64_t r = 0; r < b.batch_size; ++r) {
    const int64_t i = b.input_ids[r * 3];
    const Example ex = ds.get(static_cast<std::size_t>(i));
    for (int64_t t = 0; t < 3; ++t) {
      if (t < static_cast<int64_t>(ex.input_ids.size())) {
        EXPECT_EQ(b.input_ids[r * 3 + t], ex.input_ids[t]);  // the head is kept
        if (t >= 1) ++targets;
      } else {
        EXPECT_EQ(b.input_ids[r * 3 + t], kPad);
      }
    }
  }
  EXPECT_EQ(b.num_label_tokens, targets);
  EXPECT_EQ(batcher.truncated_examples(), 6);  // lengths 4, 5, 6 twice each
}

TEST(Batcher, DatasetSmallerThanOneBatchGivesOneBatch) {
  VariableLengthDataset ds(3);
  Batcher batcher(ds, 8, 1024, 1, kPad);
  EXPECT_EQ(batcher.batches_per_epoch(), 1);
  const Batch b = batcher.next();
  EXPECT_EQ(b.batch_size, 3);
  std::vector<int64_t> rows = row_examples(b);
  EXPECT_EQ(std::set<int64_t>(rows.begin(), rows.end()), (std::set<int64_t>{0, 1, 2}));
  batcher.next();
  EXPECT_EQ(batcher.epoch(), 1);
}

TEST(Batcher, AdditionBatchesNeedNoPadding) {
  AdditionDataset ds(Split::kTrain, 64, 3, 42);
  Batcher batcher(ds, 8, 1024, 42, kPad);
  const Batch b = batcher.next();
  EXPECT_EQ(b.seq_len, ds.task().sequence_length());
  for (int64_t id : b.input_ids)
    EXPECT_NE(id, kPad);
  // Per row: D + 1 answer digits and eos.
  EXPECT_EQ(b.num_label_tokens, 8 * (ds.task().answer_length() + 1));
}

TEST(Batcher, SetPositionResumesExactly) {
  VariableLengthDataset ds(20);
  Batcher full(ds, 3, 1024, 9, kPad);  // 6 batches per epoch
  std::vector<Batch> seen;
  for (int k = 0; k < 15; ++k)
    seen.push_back(full.next());

  // Resume after batch 8 (epoch 1, index 2), and at an epoch boundary (epoch 0, index 6).
  Batcher resumed(ds, 3, 1024, 9, kPad);
  resumed.set_position(1, 2);
  for (int k = 8; k < 15; ++k)
    EXPECT_EQ(resumed.next().input_ids, seen[k].input_ids) << k;

  Batcher boundary(ds, 3, 1024, 9, kPad);
  boundary.set_position(0, 6);
  EXPECT_EQ(boundary.next().input_ids, seen[6].input_ids);
  EXPECT_EQ(boundary.position().epoch, 1);
  EXPECT_EQ(boundary.position().index, 1);

  // position() round-trips.
  Batcher again(ds, 3, 1024, 9, kPad);
  const BatcherPosition p = full.position();
  again.set_position(p.epoch, p.index);
  EXPECT_EQ(again.next().input_ids, full.next().input_ids);
}

TEST(Batcher, Errors) {
  VariableLengthDataset ds(10);
  VariableLengthDataset empty(0);
  expect_data_error([&] { Batcher b(empty, 4, 16, 1, kPad); }, "dataset 'variable' is empty");
  expect_data_error([&] { Batcher b(ds, 0, 16, 1, kPad); },
                    "micro_batch_size must be >= 1, but got 0");
  expect_data_error([&] { Batcher b(ds, 4, 0, 1, kPad); }, "cutoff_len must be >= 1, but got 0");
  Batcher batcher(ds, 4, 16, 1, kPad);  // 2 batches per epoch
  expect_data_error([&] { batcher.set_position(0, 3); }, "batch in [0, 2]");
  expect_data_error([&] { batcher.set_position(-1, 0); }, "expected epoch >= 0");
}

}  // namespace
}  // namespace fusebox::data
