#include "data/token_dataset.h"

#include <algorithm>
#include <utility>

#include "util/error.h"
#include "util/log.h"
#include "util/strings.h"

namespace fusebox::data {

TokenDataset::TokenDataset(TokenizedCorpus corpus, bool packing, int64_t cutoff_len,
                           std::string name)
    : corpus_(std::move(corpus)), packing_(packing), name_(std::move(name)) {
  // One token leaves nothing to predict.
  if (cutoff_len < 2) {
    throw DataError(str("dataset '", name_, "': cutoff_len must be >= 2, but got ", cutoff_len));
  }
  const std::size_t cutoff = static_cast<std::size_t>(cutoff_len);
  const std::size_t total = corpus_.tokens.size();
  if (packing_) {
    const std::size_t full_rows = total / cutoff;
    for (std::size_t r = 0; r < full_rows; ++r)
      rows_.emplace_back(r * cutoff, (r + 1) * cutoff);
    if (full_rows == 0 && total > 0) rows_.emplace_back(0, total);
    row_tokens_ = static_cast<int64_t>(full_rows == 0 ? total : full_rows * cutoff);
    dropped_tokens_ = static_cast<int64_t>(total) - row_tokens_;
  } else {
    for (std::size_t d = 0; d < corpus_.num_documents(); ++d) {
      const std::size_t begin = corpus_.starts[d];
      const std::size_t length = corpus_.starts[d + 1] - begin;
      if (length > cutoff) {
        ++truncated_documents_;
        dropped_tokens_ += static_cast<int64_t>(length - cutoff);
      }
      rows_.emplace_back(begin, begin + std::min(length, cutoff));
      row_tokens_ += static_cast<int64_t>(std::min(length, cutoff));
    }
  }
  if (rows_.empty()) throw DataError(str("dataset '", name_, "' has no tokens"));
}

Example TokenDataset::get(std::size_t i) const {
  if (i >= rows_.size()) {
    throw DataError(
        str("dataset '", name_, "': index ", i, " out of range for size ", rows_.size()));
  }
  Example ex;
  const auto first = corpus_.tokens.begin() + static_cast<std::ptrdiff_t>(rows_[i].first);
  const auto last = corpus_.tokens.begin() + static_cast<std::ptrdiff_t>(rows_[i].second);
  ex.input_ids.assign(first, last);
  ex.labels = ex.input_ids;
  return ex;
}

std::unique_ptr<TokenDataset> load_text_dataset(const std::string& path, const std::string& name,
                                                const Tokenizer& tokenizer,
                                                const TextDatasetOptions& options) {
  DocumentOptions doc_options;
  doc_options.text_field = options.text_field;
  doc_options.vocab_limit = options.vocab_limit;
  TokenizedCorpus corpus = read_documents(path, tokenizer, doc_options);
  const int64_t empty = corpus.skipped_empty;
  auto ds =
      std::make_unique<TokenDataset>(std::move(corpus), options.packing, options.cutoff_len, name);
  std::string detail =
      ds->packing()
          ? str("packed into ", ds->size(), " rows of ", options.cutoff_len, " tokens",
                ds->dropped_tokens() > 0 ? str(", last ", ds->dropped_tokens(), " tokens dropped")
                                         : std::string())
          : str("one row per document",
                ds->truncated_documents() > 0
                    ? str(", ", ds->truncated_documents(), " cut to cutoff_len ",
                          options.cutoff_len, " (", ds->dropped_tokens(), " tokens lost)")
                    : std::string());
  log::info("dataset '", name, "': ", ds->num_documents(), " documents, ",
            ds->row_tokens() + ds->dropped_tokens(), " tokens, ", detail,
            empty > 0 ? str("; ", empty, " empty documents skipped") : std::string());
  return ds;
}

}  // namespace fusebox::data
