// Reading a dataset file into token ids, one document at a time. Two formats, picked by the
// file's extension:
//   *.txt    plain UTF-8 text; documents are separated by one or more blank lines (lines
//            that are empty or hold only spaces, tabs or '\r'). The lines of a document are
//            joined with '\n'; a '\r' ending a line (CRLF files) is dropped.
//   *.jsonl  one JSON object per line (blank lines are skipped). A document is the string in
//            the object's text field (`text_field`, default "text"), or, when the object has
//            an "input_ids" array, those ids as they are (pre-tokenized; input_ids wins when
//            both are present, since the ids are what the text would only approximate).
// Every document is followed by the tokenizer's eos (pre-tokenized ones only when they do not
// already end with it); text documents start with bos when the tokenizer has one. Documents
// with no tokens are skipped and counted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/tokenizer.h"

namespace fusebox::data {

struct DocumentOptions {
  std::string text_field = "text";
  // Ids must be below this (the model's vocab_size). 0 = the tokenizer's vocab_size.
  int64_t vocab_limit = 0;
};

// All documents of one file, back to back in one buffer (int32: every real vocabulary fits,
// and a corpus is mostly this buffer).
struct TokenizedCorpus {
  std::vector<int32_t> tokens;
  // Document d is tokens[starts[d], starts[d + 1]); starts.back() == tokens.size().
  std::vector<std::size_t> starts{0};
  std::vector<int64_t> lines;  // the 1-based line each document starts on
  int64_t skipped_empty = 0;

  std::size_t num_documents() const { return lines.size(); }
};

// Throws DataError naming the file and line: missing file, unsupported extension, invalid
// UTF-8 or JSON, a line that is not an object, a missing or non-string text field (with the
// keys the object has), a bad input_ids entry or an id outside [0, vocab_limit), and a file
// with no documents.
TokenizedCorpus read_documents(const std::string& path, const Tokenizer& tokenizer,
                               const DocumentOptions& options);

}  // namespace fusebox::data
