// Unit tests for src/data: byte tokenizer, the synthetic addition task and the dataset
// factory (the batcher is test_batcher.cpp).
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
#include "data_test_util.h"

namespace fusebox::data {
namespace {

using Ids = std::vector<int64_t>;
using testing::expect_data_error;

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

}  // namespace
}  // namespace fusebox::data
