// Byte-level tokenizer: a token is one byte of the UTF-8 text, plus three special tokens.
// It needs no vocabulary file, which is what lets the embedded synthetic task train with no
// download.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/tokenizer.h"

namespace fusebox::data {

class ByteTokenizer : public Tokenizer {
 public:
  // Ids 0..255 are the bytes themselves; the specials follow.
  static constexpr int64_t kNumByteIds = 256;
  static constexpr int64_t kBosId = 256;
  static constexpr int64_t kEosId = 257;
  static constexpr int64_t kPadId = 258;
  static constexpr int64_t kVocabSize = 259;

  int64_t vocab_size() const override { return kVocabSize; }
  std::optional<int64_t> bos_id() const override { return kBosId; }
  int64_t eos_id() const override { return kEosId; }
  int64_t pad_id() const override { return kPadId; }
  // Named for messages only: the specials have no spelling in text, so text that reads
  // "<bos>" is encoded as its five bytes.
  std::vector<SpecialToken> special_tokens() const override;
  std::string describe() const override;

  static bool is_byte(int64_t id) { return id >= 0 && id < kNumByteIds; }

  std::vector<int64_t> encode(const std::string& text) const override {
    return encode(text, false, false);
  }
  std::vector<int64_t> encode(const std::string& text, bool add_bos, bool add_eos = false) const;

  // Every id that is not a byte is skipped: the specials, and also ids a model with a larger
  // embedding than kVocabSize may generate before it is trained. Throwing on those would
  // stop an evaluation; skipping them makes such an answer wrong, which is what it is.
  std::string decode(const std::vector<int64_t>& ids) const override;
};

}  // namespace fusebox::data
