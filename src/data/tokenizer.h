// The tokenizer interface datasets, the trainer and the evaluator see. Two implementations:
// ByteTokenizer (bytes as ids, no vocabulary file; what the embedded synthetic task uses) and
// HFTokenizer (a Hugging Face byte-level BPE tokenizer.json, the kind Qwen ships).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fusebox::data {

struct SpecialToken {
  std::string content;  // e.g. "<|endoftext|>"
  int64_t id = 0;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Every id encode() can give is in [0, vocab_size()); a model's embedding must be at least
  // this large.
  virtual int64_t vocab_size() const = 0;

  // Text to ids. Adds no bos/eos: where a document starts and ends is the dataset's decision.
  // Special tokens written inside the text ("<|im_end|>") become their ids.
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;

  // Ids to text, special tokens included as their text. Ids the tokenizer does not know are
  // skipped: a model with a larger embedding than vocab_size() may generate them.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;

  // Qwen's tokenizers have no bos token; a dataset then starts documents with no marker.
  virtual std::optional<int64_t> bos_id() const = 0;
  // Ends every document (and separates documents when they are packed).
  virtual int64_t eos_id() const = 0;
  // Fills the tail of short rows; never trained (labels there are kIgnoreIndex) and kept out
  // of the attention mask, so it may equal eos_id().
  virtual int64_t pad_id() const = 0;

  virtual std::vector<SpecialToken> special_tokens() const = 0;

  // One line for logs: "byte-level (259 ids)", "tokenizer.json (BPE, 820 ids)".
  virtual std::string describe() const = 0;
};

}  // namespace fusebox::data
