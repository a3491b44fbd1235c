// Input and output files of `score`.
#pragma once

#include <torch/torch.h>

#include <string>

namespace fusebox::cli {

// Reads {"input_ids": [[...], ...]}: a non-empty list of equal-length rows of non-negative
// integers below vocab_size, each at least 2 long (a next-token loss needs a target).
// Throws fusebox::DataError naming the file, the row and the column.
torch::Tensor read_input_ids(const std::string& path, int64_t vocab_size);

// Writes {"loss": x, "perplexity": y, "logits": [batch][seq][vocab]} atomically (temp file and
// rename), so a crash never leaves a truncated file with the final name.
void write_score_json(const std::string& path, double loss, const torch::Tensor& logits);

}  // namespace fusebox::cli
