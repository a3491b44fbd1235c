// Unit tests for src/data: byte tokenizer, the synthetic addition task, the dataset factory
// and the batcher.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "data/addition_task.h"
#include "data/batcher.h"
#include "data/byte_tokenizer.h"
#include "data/dataset.h"
#include "data/example.h"
#include "util/error.h"

namespace fusebox::data {
namespace {

using Ids = std::vector<int64_t>;

// Expects `fn` to throw DataError whose message contains `needle`.
template <typename Fn>
void expect_data_error(Fn&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected DataError containing '" << needle << "'";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << needle;
  }
}

// ---------------------------------------------------------------- tokenizer

TEST(ByteTokenizer, ConstantsAndVocab) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 259);
  EXPECT_EQ(ByteTokenizer::kBosId, 256);
  EXPECT_EQ(ByteTokenizer::kEosId, 257);
  EXPECT_EQ(ByteTokenizer::kPadId, 258);
  EXPECT_EQ(tok.pad_id(), ByteTokenizer::kPadId);
}

TEST(ByteTokenizer, RoundTripIncludingHighBytesAndNul) {
  ByteTokenizer tok;
  const std::string text = std::string("h\xC3\xA9llo \xF0\x9F\x98\x80 ") + '\0' + "\xFF";
  const Ids ids = tok.encode(text);
  ASSERT_EQ(ids.size(), text.size());
  for (int64_t id : ids) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 256);
  }
  EXPECT_EQ(ids[1], 0xC3);  // unsigned, not a negative char
  EXPECT_EQ(ids.back(), 255);
  EXPECT_EQ(tok.decode(ids), text);
}

TEST(ByteTokenizer, SpecialsAddedAndSkipped) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.encode("ab", true, true), (Ids{256, 'a', 'b', 257}));
  EXPECT_EQ(tok.encode("ab", false, true), (Ids{'a', 'b', 257}));
  EXPECT_EQ(tok.encode("", true, false), (Ids{256}));
  EXPECT_EQ(tok.decode({256, 'a', 258, 'b', 257}), "ab");
  // Ids beyond the vocabulary (a model with a larger embedding) and negative ids are skipped.
  EXPECT_EQ(tok.decode({'x', 300, -100, 'y'}), "xy");
}

// ---------------------------------------------------------------- addition task

TEST(AdditionTask, ExactExampleFor12Plus345) {
  AdditionTask task(3);
  EXPECT_EQ(task.prompt(12, 345), "012+345=");
  EXPECT_EQ(task.answer(12, 345), "7530");
  EXPECT_EQ(task.prompt_length(), 9);
  EXPECT_EQ(task.answer_length(), 4);
  EXPECT_EQ(task.sequence_length(), 14);

  const Example ex = task.make_example(12, 345);
  const Ids expected_ids = {256, '0', '1', '2', '+', '3', '4', '5', '=', '7', '5', '3', '0', 257};
  const Ids expected_labels = {-100, -100, -100, -100, -100, -100, -100,
                               -100, -100, '7',  '5',  '3',  '0',  257};
  EXPECT_EQ(ex.input_ids, expected_ids);
  EXPECT_EQ(ex.labels, expected_labels);
  EXPECT_EQ(task.prompt_ids(12, 345), Ids(expected_ids.begin(), expected_ids.begin() + 9));
}

TEST(AdditionTask, CarriesAndEdges) {
  AdditionTask task(3);
  EXPECT_EQ(task.prompt(0, 0), "000+000=");
  EXPECT_EQ(task.answer(0, 0), "0000");
  EXPECT_EQ(task.answer(999, 999), "8991");  // 1998 reversed
  EXPECT_EQ(task.answer(1, 999), "0001");    // 1000 reversed
  AdditionTask one(1);
  EXPECT_EQ(one.prompt(7, 5), "7+5=");
  EXPECT_EQ(one.answer(7, 5), "21");
  AdditionTask nine(9);
  EXPECT_EQ(nine.answer(999999999, 999999999), "8999999991");
  EXPECT_EQ(nine.parse_answer("8999999991"), 1999999998);
}

TEST(AdditionTask, EveryExampleHasTheSameLengthAndParsesBack) {
  for (int64_t digits : {1, 2, 4}) {
    AdditionTask task(digits);
    const int64_t step = task.operand_limit() / 7 + 1;
    for (int64_t a = 0; a < task.operand_limit(); a += step) {
      for (int64_t b = task.operand_limit() - 1; b >= 0; b -= step) {
        const Example ex = task.make_example(a, b);
        ASSERT_EQ(static_cast<int64_t>(ex.input_ids.size()), task.sequence_length());
        ASSERT_EQ(ex.labels.size(), ex.input_ids.size());
        EXPECT_EQ(task.parse_answer(task.answer(a, b)), a + b) << a << "+" << b;
      }
    }
  }
}

TEST(AdditionTask, ParseAnswerRejectsMalformed) {
  AdditionTask task(3);
  EXPECT_EQ(task.parse_answer("7530"), 357);
  EXPECT_EQ(task.parse_answer("0000"), 0);
  EXPECT_EQ(task.parse_answer("753"), std::nullopt);    // too short
  EXPECT_EQ(task.parse_answer("75300"), std::nullopt);  // too long
  EXPECT_EQ(task.parse_answer("75a0"), std::nullopt);
  EXPECT_EQ(task.parse_answer(""), std::nullopt);
  EXPECT_EQ(task.parse_answer("-530"), std::nullopt);
}

TEST(AdditionTask, HeldOutIsSymmetricAndAboutOneInTwenty) {
  AdditionTask task(3);
  int64_t held = 0;
  const int64_t n = task.operand_limit();
  for (int64_t a = 0; a < n; ++a) {
    for (int64_t b = 0; b < n; ++b) {
      const bool h = task.is_held_out(a, b);
      held += h;
      if (a < 50 && b < 50) {
        EXPECT_EQ(h, task.is_held_out(b, a));
      }
    }
  }
  const double fraction = static_cast<double>(held) / static_cast<double>(n * n);
  // 10^6 pairs: one in 20 gives 50000 +- ~220 (one sigma); 0.045..0.055 is > 20 sigma wide.
  EXPECT_GT(fraction, 0.045);
  EXPECT_LT(fraction, 0.055);
}

TEST(AdditionTask, Errors) {
  expect_data_error([] { AdditionTask t(0); }, "max_digits must be in [1, 9], but got 0");
  expect_data_error([] { AdditionTask t(10); }, "but got 10");
  AdditionTask task(2);
  expect_data_error([&] { task.prompt(100, 1); }, "operand a must be in [0, 99]");
  expect_data_error([&] { task.answer(1, -1); }, "operand b must be in [0, 99]");
  expect_data_error([&] { task.is_held_out(-5, 1); }, "but got -5");
}

// ---------------------------------------------------------------- addition dataset

TEST(AdditionDataset, SplitsAreDisjoint) {
  AdditionDataset train(Split::kTrain, 3000, 3, 7);
  AdditionDataset eval(Split::kEval, 300, 3, 7);
  ASSERT_EQ(train.size(), 3000u);
  ASSERT_EQ(eval.size(), 300u);
  for (std::size_t i = 0; i < train.size(); ++i) {
    auto [a, b] = train.operands(i);
    ASSERT_FALSE(train.task().is_held_out(a, b)) << a << "+" << b;
  }
  for (std::size_t i = 0; i < eval.size(); ++i) {
    auto [a, b] = eval.operands(i);
    ASSERT_TRUE(eval.task().is_held_out(a, b)) << a << "+" << b;
    // The example is the pair's example.
    EXPECT_EQ(eval.get(i).input_ids, eval.task().make_example(a, b).input_ids);
  }
  EXPECT_EQ(train.name(), "builtin:addition");
  EXPECT_EQ(eval.split(), Split::kEval);
}

TEST(AdditionDataset, OneDigitSplitsAreBothNonEmpty) {
  // 100 pairs only: the eval split must still exist, or the eval dataset cannot be drawn.
  AdditionDataset eval(Split::kEval, 20, 1, 0);
  AdditionDataset train(Split::kTrain, 20, 1, 0);
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_TRUE(eval.task().is_held_out(eval.operands(i).first, eval.operands(i).second));
    EXPECT_FALSE(train.task().is_held_out(train.operands(i).first, train.operands(i).second));
  }
}

TEST(AdditionDataset, DeterministicBySeed) {
  auto pairs = [](Split split, uint64_t seed) {
    AdditionDataset ds(split, 200, 4, seed);
    std::vector<std::pair<int64_t, int64_t>> out;
    for (std::size_t i = 0; i < ds.size(); ++i)
      out.push_back(ds.operands(i));
    return out;
  };
  EXPECT_EQ(pairs(Split::kTrain, 1), pairs(Split::kTrain, 1));
  EXPECT_NE(pairs(Split::kTrain, 1), pairs(Split::kTrain, 2));
  EXPECT_EQ(pairs(Split::kEval, 1), pairs(Split::kEval, 1));
  EXPECT_NE(pairs(Split::kEval, 1), pairs(Split::kEval, 2));
  // get() is a pure function of the index.
  AdditionDataset ds(Split::kTrain, 10, 3, 5);
  EXPECT_EQ(ds.get(3).input_ids, ds.get(3).input_ids);
}

TEST(AdditionDataset, Errors) {
  expect_data_error([] { AdditionDataset d(Split::kTrain, 0, 3, 1); },
                    "builtin:addition (train split): size must be >= 1, but got 0");
  expect_data_error([] { AdditionDataset d(Split::kEval, 5, 10, 1); }, "max_digits");
  AdditionDataset ds(Split::kEval, 4, 2, 1);
  expect_data_error([&] { ds.get(4); }, "index 4 out of range for size 4");
  expect_data_error([&] { ds.operands(100); }, "index 100 out of range");
}

// ---------------------------------------------------------------- factory

TEST(MakeDataset, BuiltinAdditionPicksSizeBySplit) {
  SyntheticOptions options;
  options.max_digits = 2;
  options.train_size = 50;
  options.eval_size = 7;
  options.seed = 3;
  auto train = make_dataset("builtin:addition", Split::kTrain, options);
  auto eval = make_dataset("builtin:addition", Split::kEval, options);
  EXPECT_EQ(train->size(), 50u);
  EXPECT_EQ(eval->size(), 7u);
  EXPECT_EQ(train->name(), "builtin:addition");
  EXPECT_EQ(static_cast<int64_t>(train->get(0).input_ids.size()),
            AdditionTask(2).sequence_length());
}

TEST(MakeDataset, UnknownSpec) {
  expect_data_error([] { make_dataset("data/train.jsonl", Split::kTrain, {}); },
                    "unknown dataset 'data/train.jsonl' (train split); supported: "
                    "builtin:addition");
  expect_data_error([] { make_dataset("builtin:additon", Split::kEval, {}); },
                    "(did you mean 'builtin:addition'?)");
}

// ---------------------------------------------------------------- batcher

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
