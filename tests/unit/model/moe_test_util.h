// Shared helpers for the Qwen3-MoE model tests: small configs and the message of the
// ConfigError a call throws.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "model/qwen3_config.h"
#include "util/error.h"

namespace fusebox::test {

// A Qwen3-MoE small enough for exact fp32 checks; odd sizes on purpose.
inline model::Qwen3Config small_moe_config(int64_t num_experts = 6, int64_t top_k = 2,
                                           bool norm_topk_prob = true) {
  model::Qwen3Config c;
  c.model_type = "qwen3_moe";
  c.vocab_size = 97;
  c.hidden_size = 24;
  c.intermediate_size = 40;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.num_experts = num_experts;
  c.num_experts_per_tok = top_k;
  c.moe_intermediate_size = 20;
  c.norm_topk_prob = norm_topk_prob;
  return c;
}

// The message of the fusebox::ConfigError that `fn` throws, or a marker that no fragment
// matches. Other exception types escape: they are bugs to see.
inline std::string config_error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError thrown>";
}

inline ::testing::AssertionResult Contains(const std::string& message,
                                           const std::string& fragment) {
  if (message.find(fragment) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "message:  " << message << "\nlacks:    " << fragment;
}

}  // namespace fusebox::test
