// Autoregressive generation with a KV cache: one forward over the prompt (prefill), then one
// single-token forward per new token that attends to the cached keys and values (decode).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "infer/sampling.h"
#include "model/qwen3.h"

namespace fusebox::infer {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  SamplingOptions sampling;
  std::vector<int64_t> stop_ids;  // generation ends after emitting one of these (kept)
};

struct GenerateResult {
  std::vector<int64_t> tokens;  // the new tokens only, a stop token included
  std::string stop_reason;      // "stop token" or "max_new_tokens"
  double prefill_seconds = 0;   // the prompt's forward and the first token
  double decode_seconds = 0;    // every later token
  // New tokens after the first per second of decode time (0 when only one token came).
  double decode_tokens_per_second() const;
};

// prompt_ids must be non-empty and below the model's vocab_size (fusebox::Error otherwise).
// The model's parameters decide device and dtype; runs without autograd.
GenerateResult generate(model::Qwen3ForCausalLM& model, const std::vector<int64_t>& prompt_ids,
                        const GenerateOptions& options);

}  // namespace fusebox::infer
