// A dataset of rows cut from a tokenized corpus (text or JSONL files, document_reader.h).
//   packing: false  one row per document, cut to cutoff_len (the tail is lost; counted and
//                   logged once). Rows differ in length; the batcher pads them.
//   packing: true   the documents back to back (each already ends with eos, so eos separates
//                   them) cut into rows of exactly cutoff_len; the last, partial row is dropped
//                   (and logged), as Hugging Face's group_texts does, so every row is full and
//                   no padding is needed. A corpus shorter than one row is one shorter row.
//                   Attention is not blocked at document boundaries inside a row: a token
//                   sees the end of the previous document, the usual trade for packing.
// Every position of a row is trained (labels == input_ids).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "data/document_reader.h"
#include "data/tokenizer.h"

namespace fusebox::data {

class TokenDataset : public Dataset {
 public:
  // `name` is what messages call it (the spec as written in the config). Throws DataError
  // when cutoff_len < 2.
  TokenDataset(TokenizedCorpus corpus, bool packing, int64_t cutoff_len, std::string name);

  std::size_t size() const override { return rows_.size(); }
  Example get(std::size_t i) const override;
  std::string name() const override { return name_; }

  // Totals, for the log line: tokens in rows, and what was cut off.
  int64_t num_documents() const { return static_cast<int64_t>(corpus_.num_documents()); }
  int64_t row_tokens() const { return row_tokens_; }
  int64_t dropped_tokens() const { return dropped_tokens_; }
  int64_t truncated_documents() const { return truncated_documents_; }
  bool packing() const { return packing_; }

 private:
  TokenizedCorpus corpus_;
  bool packing_;
  std::string name_;
  std::vector<std::pair<std::size_t, std::size_t>> rows_;  // [begin, end) in corpus_.tokens
  int64_t row_tokens_ = 0;
  int64_t dropped_tokens_ = 0;
  int64_t truncated_documents_ = 0;
};

struct TextDatasetOptions {
  std::string text_field = "text";
  bool packing = false;
  int64_t cutoff_len = 1024;
  // The model's vocab_size: pre-tokenized ids must be below it. 0 = the tokenizer's.
  int64_t vocab_limit = 0;
};

// Reads `path` (*.txt or *.jsonl, see document_reader.h) into a TokenDataset named `name` and
// logs its size. Throws DataError.
std::unique_ptr<TokenDataset> load_text_dataset(const std::string& path, const std::string& name,
                                                const Tokenizer& tokenizer,
                                                const TextDatasetOptions& options);

}  // namespace fusebox::data
