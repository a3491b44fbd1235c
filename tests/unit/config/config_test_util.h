// Shared helpers for the config tests: parse inline YAML as if it came from "train.yaml" and
// check error messages by the fragments a user needs to fix the file.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/train_config.h"
#include "util/error.h"

namespace fusebox::config::testing {

// The two required keys; most tests append to this.
inline const std::string kMinimal =
    "model: configs/tiny.json\n"
    "train_dataset: builtin:addition\n";

inline TrainConfig parse(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  return parse_train_config(yaml, "train.yaml", overrides);
}

// The ConfigError message, or a marker that fails every Contains() check. Other exception
// types are not caught: a std::logic_error or YAML::Exception escaping is a bug to see.
inline std::string error_of(const std::string& yaml,
                            const std::vector<std::string>& overrides = {}) {
  try {
    parse(yaml, overrides);
  } catch (const fusebox::ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError thrown>";
}

inline ::testing::AssertionResult Contains(const std::string& message,
                                           const std::string& fragment) {
  if (message.find(fragment) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "message:  " << message << "\nlacks:    " << fragment;
}

inline ::testing::AssertionResult Lacks(const std::string& message, const std::string& fragment) {
  if (message.find(fragment) == std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "message:  " << message << "\nshould not contain: " << fragment;
}

}  // namespace fusebox::config::testing
