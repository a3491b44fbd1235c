// The BPE model of a byte-level tokenizer: a word (one pre-tokenizer piece, as raw bytes)
// starts as one symbol per byte and the ranked merges are applied lowest rank first, the
// leftmost occurrence first among equal ranks -- the order Hugging Face tokenizers uses, which
// for BPE-trained merge lists gives the same ids as GPT-2's original loop. Results are cached
// per word: text repeats its words, and a cache hit skips the merging entirely.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fusebox::data {

struct BpeMerge {
  int32_t left = 0;
  int32_t right = 0;
  int32_t result = 0;  // the id of left's and right's strings concatenated
};

struct BpeModelSpec {
  // The id of each byte's one-character token; -1 where the vocabulary lacks it.
  std::array<int32_t, 256> byte_ids{};
  // Merges in rank order (rank = index).
  std::vector<BpeMerge> merges;
  // Stands for a byte whose token is missing; without one such bytes are dropped (both as in
  // tokenizers).
  std::optional<int32_t> unk_id;
  // tokenizers' ignore_merges: a word that is itself a vocabulary entry is that one token,
  // whatever the merges would make of it.
  bool ignore_merges = false;
  // Raw bytes of every vocabulary entry -> id; only needed with ignore_merges.
  std::unordered_map<std::string, int32_t> whole_words;
};

class BpeModel {
 public:
  explicit BpeModel(BpeModelSpec spec);

  // Appends the ids of one word to `out`. Thread-safe (the cache is locked).
  void encode_word(std::string_view word, std::vector<int64_t>* out) const;

  // Words longer than this are merged every time instead of being cached, which bounds the
  // memory one pathological document (a megabyte without a space) can pin.
  static constexpr std::size_t kMaxCachedWordBytes = 256;
  // The cache is emptied when it reaches this many words.
  static constexpr std::size_t kMaxCachedWords = 1 << 17;

 private:
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  struct RankedMerge {
    int32_t rank;
    int32_t result;
  };
  const RankedMerge* find_merge(int32_t left, int32_t right) const;
  void merge_word(std::string_view word, std::vector<int32_t>* ids) const;

  BpeModelSpec spec_;
  std::unordered_map<uint64_t, RankedMerge> merges_;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace fusebox::data
