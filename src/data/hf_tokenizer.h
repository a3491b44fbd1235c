// A Hugging Face tokenizer.json of the byte-level BPE kind (Qwen2/Qwen3), encoding exactly as
// the `tokenizers` library does with add_special_tokens=False:
//   1. added tokens written in the text ("<|im_end|>") are split out, leftmost-longest;
//   2. the rest is NFC-normalised (when the file asks for it), then tokens added with
//      normalized=true are split out of that;
//   3. Qwen's regex cuts it into pieces (qwen_pretokenizer.h);
//   4. each piece's bytes are merged by BPE rank (bpe_model.h).
// decode() maps ids back to bytes (GPT-2's byte alphabet reversed); special tokens come out
// as their text, so decode(encode(t)) == NFC(t).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/added_tokens.h"
#include "data/bpe_model.h"
#include "data/tokenizer.h"
#include "data/tokenizer_json.h"

namespace fusebox::data {

class HFTokenizer : public Tokenizer {
 public:
  // The eos/pad/bos names come from tokenizer_config.json next to tokenizer.json when it names
  // them; otherwise eos and pad are <|endoftext|> and there is no bos. Throws DataError (see
  // read_tokenizer_json) and when no eos can be found.
  static std::unique_ptr<HFTokenizer> load(const std::string& tokenizer_json_path);

  int64_t vocab_size() const override { return vocab_size_; }
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::optional<int64_t> bos_id() const override { return bos_; }
  int64_t eos_id() const override { return eos_; }
  int64_t pad_id() const override { return pad_; }
  std::vector<SpecialToken> special_tokens() const override { return specials_; }
  std::string describe() const override;

  const std::string& path() const { return path_; }

 private:
  struct SpecialIds {
    std::optional<int64_t> bos;
    int64_t eos = 0;
    int64_t pad = 0;
  };
  HFTokenizer(TokenizerJson tj, SpecialIds ids);

  // Steps 2-4 for text between raw-matched added tokens.
  void encode_normalizable(std::string_view text, std::vector<int64_t>* ids) const;
  // Steps 3-4.
  void encode_plain(std::string_view text, std::vector<int64_t>* ids) const;

  std::string path_;
  bool nfc_;
  AddedTokenMatcher raw_added_;
  AddedTokenMatcher normalized_added_;
  BpeModel bpe_;
  std::vector<std::string> id_bytes_;
  std::vector<bool> id_known_;
  int64_t vocab_size_;
  std::optional<int64_t> bos_;
  int64_t eos_;
  int64_t pad_;
  std::vector<SpecialToken> specials_;
};

// `path` is a tokenizer.json or a directory holding one (a Hugging Face model directory).
// Throws DataError naming the path when neither.
std::unique_ptr<HFTokenizer> load_hf_tokenizer(const std::string& path);

}  // namespace fusebox::data
