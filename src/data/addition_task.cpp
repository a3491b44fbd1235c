#include "data/addition_task.h"

#include <algorithm>
#include <random>

#include "data/byte_tokenizer.h"
#include "data/portable_random.h"
#include "util/error.h"
#include "util/strings.h"

namespace fusebox::data {
namespace {

// XORed into the seed so that the train and eval lists of one run are independent draws.
constexpr uint64_t kTrainSalt = 0x747261696E000000ULL;  // "train"
constexpr uint64_t kEvalSalt = 0x6576616C00000000ULL;   // "eval"

// A pair is drawn from a split by rejection: about 1 in 20 draws lands in the eval split,
// 19 in 20 in train. This many misses in a row can only mean the split is empty (a hash that
// puts none of the 10^(2D) pairs in it); fail instead of spinning.
constexpr int64_t kMaxRejections = 1000000;

int64_t pow10(int64_t n) {
  int64_t p = 1;
  for (int64_t i = 0; i < n; ++i)
    p *= 10;
  return p;
}

// value as exactly `width` decimal digits, most significant first, zero-padded.
std::string zero_padded(int64_t value, int64_t width) {
  std::string digits(static_cast<std::size_t>(width), '0');
  for (int64_t i = width - 1; i >= 0 && value > 0; --i) {
    digits[static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return digits;
}

}  // namespace

AdditionTask::AdditionTask(int64_t max_digits) : digits_(max_digits), limit_(0) {
  if (max_digits < kMinDigits || max_digits > kMaxDigits) {
    throw DataError(str("builtin:addition: max_digits must be in [", kMinDigits, ", ", kMaxDigits,
                        "], but got ", max_digits));
  }
  limit_ = pow10(max_digits);
}

void AdditionTask::check_operand(const char* which, int64_t value) const {
  if (value < 0 || value >= limit_) {
    throw DataError(str("builtin:addition: operand ", which, " must be in [0, ", limit_ - 1,
                        "] for max_digits ", digits_, ", but got ", value));
  }
}

std::string AdditionTask::prompt(int64_t a, int64_t b) const {
  check_operand("a", a);
  check_operand("b", b);
  return zero_padded(a, digits_) + "+" + zero_padded(b, digits_) + "=";
}

std::string AdditionTask::answer(int64_t a, int64_t b) const {
  check_operand("a", a);
  check_operand("b", b);
  std::string digits = zero_padded(a + b, answer_length());
  std::reverse(digits.begin(), digits.end());
  return digits;
}

std::vector<int64_t> AdditionTask::prompt_ids(int64_t a, int64_t b) const {
  return ByteTokenizer().encode(prompt(a, b), /*add_bos=*/true);
}

Example AdditionTask::make_example(int64_t a, int64_t b) const {
  const ByteTokenizer tokenizer;
  Example ex;
  ex.input_ids = prompt_ids(a, b);
  ex.labels.assign(ex.input_ids.size(), kIgnoreIndex);
  const std::vector<int64_t> target =
      tokenizer.encode(answer(a, b), /*add_bos=*/false, /*add_eos=*/true);
  ex.input_ids.insert(ex.input_ids.end(), target.begin(), target.end());
  ex.labels.insert(ex.labels.end(), target.begin(), target.end());
  return ex;
}

bool AdditionTask::is_held_out(int64_t a, int64_t b) const {
  check_operand("a", a);
  check_operand("b", b);
  const int64_t lo = std::min(a, b);
  const int64_t hi = std::max(a, b);
  return splitmix64(static_cast<uint64_t>(lo * limit_ + hi)) % kHeldOutModulus == 0;
}

std::optional<int64_t> AdditionTask::parse_answer(const std::string& generated) const {
  if (static_cast<int64_t>(generated.size()) != answer_length()) return std::nullopt;
  int64_t value = 0;
  // Least significant digit first, so walk from the end to read it most significant first.
  for (auto it = generated.rbegin(); it != generated.rend(); ++it) {
    if (*it < '0' || *it > '9') return std::nullopt;
    value = value * 10 + (*it - '0');
  }
  return value;
}

AdditionDataset::AdditionDataset(Split split, int64_t size, int64_t max_digits, uint64_t seed)
    : task_(max_digits), split_(split) {
  if (size < 1) {
    throw DataError(
        str(kSpec, " (", split_name(split), " split): size must be >= 1, but got ", size));
  }
  const bool want_held_out = split == Split::kEval;
  std::mt19937_64 rng(seed ^ (want_held_out ? kEvalSalt : kTrainSalt));
  const uint64_t limit = static_cast<uint64_t>(task_.operand_limit());
  pairs_.reserve(static_cast<std::size_t>(size));
  for (int64_t n = 0; n < size; ++n) {
    int64_t misses = 0;
    while (true) {
      const int64_t a = static_cast<int64_t>(uniform_below(rng, limit));
      const int64_t b = static_cast<int64_t>(uniform_below(rng, limit));
      if (task_.is_held_out(a, b) == want_held_out) {
        pairs_.emplace_back(a, b);
        break;
      }
      if (++misses == kMaxRejections) {
        throw DataError(str(kSpec, ": found no ", split_name(split), " operand pair in ",
                            kMaxRejections, " draws for max_digits ", max_digits,
                            "; the split is empty for this digit count"));
      }
    }
  }
}

void AdditionDataset::check_index(std::size_t i) const {
  if (i >= pairs_.size()) {
    throw DataError(str(kSpec, " (", split_name(split_), " split): index ", i,
                        " out of range for size ", pairs_.size()));
  }
}

Example AdditionDataset::get(std::size_t i) const {
  check_index(i);
  return task_.make_example(pairs_[i].first, pairs_[i].second);
}

std::pair<int64_t, int64_t> AdditionDataset::operands(std::size_t i) const {
  check_index(i);
  return pairs_[i];
}

}  // namespace fusebox::data
