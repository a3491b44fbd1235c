#include "infer/generate.h"

#include <algorithm>

#include "model/kv_cache.h"
#include "util/error.h"
#include "util/strings.h"
#include "util/timer.h"

namespace fusebox::infer {

double GenerateResult::decode_tokens_per_second() const {
  if (tokens.size() < 2 || decode_seconds <= 0) return 0;
  return static_cast<double>(tokens.size() - 1) / decode_seconds;
}

GenerateResult generate(model::Qwen3ForCausalLM& model, const std::vector<int64_t>& prompt_ids,
                        const GenerateOptions& options) {
  const int64_t vocab = model->config().vocab_size;
  if (prompt_ids.empty()) throw Error("generate: the prompt has no tokens");
  for (std::size_t i = 0; i < prompt_ids.size(); ++i) {
    if (prompt_ids[i] < 0 || prompt_ids[i] >= vocab)
      throw Error(str("generate: prompt token ", i, " is ", prompt_ids[i],
                      ", outside the model's vocabulary of ", vocab));
  }
  if (options.max_new_tokens < 1)
    throw ConfigError(str("max_new_tokens must be >= 1, got ", options.max_new_tokens));

  torch::NoGradGuard no_grad;
  const auto& weight = model->lm_head_weight();
  auto prompt = torch::tensor(prompt_ids, torch::kInt64).unsqueeze(0).to(weight.device());
  auto cache_length = static_cast<int64_t>(prompt_ids.size()) + options.max_new_tokens;
  model::KVCache cache(model->config(), 1, cache_length, weight.options());
  Sampler sampler(options.sampling);

  GenerateResult result;
  Stopwatch clock;
  auto is_stop = [&](int64_t id) {
    return std::find(options.stop_ids.begin(), options.stop_ids.end(), id) !=
           options.stop_ids.end();
  };
  int64_t token = sampler.next(model->next_token_logits(prompt, cache)[0]);
  result.tokens.push_back(token);
  result.prefill_seconds = clock.seconds();
  result.stop_reason = "max_new_tokens";
  while (true) {
    if (is_stop(token)) {
      result.stop_reason = "stop token";
      break;
    }
    if (static_cast<int64_t>(result.tokens.size()) >= options.max_new_tokens) break;
    auto input = torch::full({1, 1}, token, prompt.options());
    token = sampler.next(model->next_token_logits(input, cache)[0]);
    result.tokens.push_back(token);
  }
  result.decode_seconds = clock.seconds() - result.prefill_seconds;
  return result;
}

}  // namespace fusebox::infer
