// Picking the next token from a row of logits: greedy, or sampling with temperature, top-k
// and top-p (nucleus), applied in that order as transformers' generate() does.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace fusebox::infer {

struct SamplingOptions {
  double temperature = 0.0;  // 0 = greedy (argmax); > 0 = sample from softmax(logits / T)
  int64_t top_k = 0;         // keep the k most likely tokens; 0 = all
  double top_p = 1.0;        // keep the smallest set whose probability reaches p; 1 = all
  uint64_t seed = 0;         // sampling is reproducible for a given seed
};

// Throws fusebox::ConfigError naming the option when a value is out of range.
void validate(const SamplingOptions& options);

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);
  // logits: fp32 [vocab] (one row). Returns the chosen token id.
  int64_t next(const torch::Tensor& logits);

 private:
  SamplingOptions options_;
  at::Generator generator_;
};

}  // namespace fusebox::infer
