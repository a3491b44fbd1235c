#include "data/dataset.h"

#include <vector>

#include "data/addition_task.h"
#include "util/error.h"
#include "util/strings.h"

namespace fusebox::data {

const char* split_name(Split split) {
  return split == Split::kTrain ? "train" : "eval";
}

bool is_builtin_dataset(const std::string& spec) {
  return spec.rfind("builtin:", 0) == 0;
}

std::unique_ptr<Dataset> make_dataset(const std::string& spec, Split split,
                                      const SyntheticOptions& options) {
  if (spec == AdditionDataset::kSpec) {
    const int64_t size = split == Split::kTrain ? options.train_size : options.eval_size;
    return std::make_unique<AdditionDataset>(split, size, options.max_digits, options.seed);
  }
  const std::vector<std::string> supported = {AdditionDataset::kSpec};
  std::string message =
      str("unknown dataset '", spec, "' (", split_name(split),
          " split); supported: ", join(supported, ", "), ", or a path to a .txt or .jsonl file");
  const std::string guess = closest_match(spec, supported);
  if (!guess.empty()) message += str(" (did you mean '", guess, "'?)");
  throw DataError(message);
}

}  // namespace fusebox::data
