// Reading a Hugging Face tokenizer.json of the byte-level BPE kind Qwen ships, with every field
// that changes the ids checked: a tokenizer we would encode differently from the `tokenizers`
// library is refused with a DataError naming the file, the field and what is supported,
// never half-supported. Accepted:
//   normalizer     null, NFC, or a Sequence of NFC
//   pre_tokenizer  Sequence[Split(Qwen's regex, Isolated), ByteLevel(add_prefix_space=false,
//                  use_regex=false)]
//   model          BPE; no dropout, continuing_subword_prefix, end_of_word_suffix or
//                  byte_fallback; merges as [a, b] pairs or "a b" strings
//   added_tokens   without lstrip, rstrip or single_word
//   decoder        null or ByteLevel
// post_processor, truncation and padding are read by nothing: encode() is add_special_tokens
// = false (datasets place eos themselves) and rows are cut and padded by the batcher.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/bpe_model.h"

namespace fusebox::data {

struct AddedTokenEntry {
  std::string content;
  int32_t id = 0;
  bool special = false;
  // true: matched in the NFC-normalised text; false: in the text as written.
  bool normalized = false;
};

struct TokenizerJson {
  std::string path;
  bool nfc = false;
  BpeModelSpec bpe;
  std::vector<AddedTokenEntry> added_tokens;
  // Decode table, indexed by id: the bytes each id stands for, and whether the id exists.
  std::vector<std::string> id_bytes;
  std::vector<bool> id_known;
  // Every token's name as written in the file (vocab keys and added contents) -> id, to look
  // up the tokens tokenizer_config.json names ("<|endoftext|>").
  std::unordered_map<std::string, int32_t> ids_by_name;
  // Largest id + 1.
  int64_t vocab_size = 0;
};

// Throws DataError: missing or unreadable file, invalid JSON, a missing or mistyped field
// (named by its path, e.g. "model.merges[12]"), or an unsupported setting.
TokenizerJson read_tokenizer_json(const std::string& path);

}  // namespace fusebox::data
