#include "infer/sampling.h"

#include <ATen/CPUGeneratorImpl.h>

#include <limits>

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::infer {

void validate(const SamplingOptions& o) {
  if (!(o.temperature >= 0.0))
    throw ConfigError(str("temperature must be >= 0 (0 = greedy), got ", o.temperature));
  if (o.top_k < 0) throw ConfigError(str("top_k must be >= 0 (0 = no limit), got ", o.top_k));
  if (!(o.top_p > 0.0 && o.top_p <= 1.0))
    throw ConfigError(str("top_p must be in (0, 1] (1 = no limit), got ", o.top_p));
}

Sampler::Sampler(const SamplingOptions& options)
    : options_(options), generator_(at::make_generator<at::CPUGeneratorImpl>(options.seed)) {
  validate(options_);
}

int64_t Sampler::next(const torch::Tensor& logits) {
  // Sampling runs on the CPU with our own generator, so a seed gives the same text on any
  // device and the device's global RNG is left alone.
  auto row = logits.detach().to(torch::kCPU, torch::kFloat32).reshape({-1});
  if (options_.temperature == 0.0) return row.argmax().item<int64_t>();
  row = row / options_.temperature;
  const float masked = -std::numeric_limits<float>::infinity();
  if (options_.top_k > 0 && options_.top_k < row.numel()) {
    auto kth = std::get<0>(row.topk(options_.top_k)).min();
    row = row.masked_fill(row < kth, masked);
  }
  if (options_.top_p < 1.0) {
    auto [sorted, order] = row.sort(/*dim=*/0, /*descending=*/true);
    auto cumulative = sorted.softmax(0).cumsum(0);
    // Drop a token when the tokens before it already reach top_p; the most likely token
    // always stays.
    auto drop_sorted = (cumulative - sorted.softmax(0)) >= options_.top_p;
    auto drop = torch::zeros_like(drop_sorted).scatter(0, order, drop_sorted);
    row = row.masked_fill(drop, masked);
  }
  auto probs = row.softmax(0);
  return torch::multinomial(probs, 1, /*replacement=*/false, generator_).item<int64_t>();
}

}  // namespace fusebox::infer
