// The embedded synthetic task: multi-digit addition written as text, byte-level tokens.
//
// Every example has the same length, so batches need no padding. With D = max_digits:
//   [bos] "012+345=" "7530" [eos]        (D = 3: 12 + 345 = 357)
// Operands are zero-padded to D digits; the answer is the sum's D + 1 decimal digits written
// least significant first. Reversed is what makes the task learnable by a tiny model quickly:
// a left-to-right decoder then writes each digit after the position that decides its carry,
// so every output digit is a function of the two operand digits at its position and of the
// carry the model worked out one step earlier. Written most significant first, the first
// digit would depend on a carry chain through all D positions, resolved in a single step.
//
// Labels: kIgnoreIndex on bos and the prompt; the answer digits and eos are trained.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "data/example.h"

namespace fusebox::data {

// Formatting, parsing and the held-out rule for one digit count. Throws DataError when
// max_digits is outside [1, 9] (9 keeps a * 10^D + b and every sum inside int64).
class AdditionTask {
 public:
  static constexpr int64_t kMinDigits = 1;
  static constexpr int64_t kMaxDigits = 9;
  // About 1 in kHeldOutModulus operand pairs is held out for evaluation.
  static constexpr uint64_t kHeldOutModulus = 20;

  explicit AdditionTask(int64_t max_digits);

  int64_t max_digits() const { return digits_; }
  // Operands are 0 .. operand_limit() - 1, i.e. 10^D values.
  int64_t operand_limit() const { return limit_; }

  // "012+345=". Throws DataError on an operand outside [0, 10^D).
  std::string prompt(int64_t a, int64_t b) const;
  // "7530": the sum's D + 1 digits, least significant first.
  std::string answer(int64_t a, int64_t b) const;
  // [bos] + prompt bytes: what an evaluator feeds the model before generating.
  std::vector<int64_t> prompt_ids(int64_t a, int64_t b) const;
  Example make_example(int64_t a, int64_t b) const;

  // Tokens of prompt_ids(): bos + 2D + 2 bytes.
  int64_t prompt_length() const { return 2 * digits_ + 3; }
  // Answer digits, D + 1, excluding eos.
  int64_t answer_length() const { return digits_ + 1; }
  // Every example: prompt, answer, eos.
  int64_t sequence_length() const { return prompt_length() + answer_length() + 1; }

  // A fixed function of the unordered pair {a, b} (not of any seed): changing the seed never
  // moves a pair between the splits, and b + a is held out together with a + b, so the model
  // cannot have learned an eval pair through commutativity.
  bool is_held_out(int64_t a, int64_t b) const;

  // The value of a generated answer: exactly answer_length() decimal digits, least
  // significant first (the text after '=', eos already stripped). Anything else -- too
  // short, too long, a non-digit -- is nullopt, i.e. a wrong answer.
  std::optional<int64_t> parse_answer(const std::string& generated) const;

 private:
  void check_operand(const char* which, int64_t value) const;

  int64_t digits_;
  int64_t limit_;
};

// A deterministic list of `size` operand pairs drawn uniformly (with replacement) from one
// split: kTrain only from pairs that are not held out, kEval only from held-out ones.
// Examples are built on demand by get().
class AdditionDataset : public Dataset {
 public:
  static constexpr const char* kSpec = "builtin:addition";

  // Throws DataError when size < 1 or max_digits is outside [1, 9].
  AdditionDataset(Split split, int64_t size, int64_t max_digits, uint64_t seed);

  std::size_t size() const override { return pairs_.size(); }
  Example get(std::size_t i) const override;
  std::string name() const override { return kSpec; }

  // The operands of example i, for the evaluator to check a generated answer against.
  std::pair<int64_t, int64_t> operands(std::size_t i) const;
  const AdditionTask& task() const { return task_; }
  Split split() const { return split_; }

 private:
  void check_index(std::size_t i) const;

  AdditionTask task_;
  Split split_;
  std::vector<std::pair<int64_t, int64_t>> pairs_;
};

}  // namespace fusebox::data
