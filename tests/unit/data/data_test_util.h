// Shared helpers for the data-layer tests: the tokenizer fixture's location, a scratch
// directory per test, and checking DataError messages by the fragments a user needs.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "util/error.h"
#include "util/remove_tree.h"

namespace fusebox::data::testing {

namespace fs = std::filesystem;

// tests/fixtures/tokenizer: a small Qwen-style tokenizer.json and the ids the Hugging Face
// `tokenizers` library gives for cases.jsonl (scripts/make_tokenizer_fixture.py).
inline fs::path tokenizer_fixture_dir() {
  return fs::path(FUSEBOX_SOURCE_DIR) / "tests" / "fixtures" / "tokenizer";
}

// The DataError message `fn` throws, or a marker that no Contains() check accepts.
template <typename Fn>
std::string data_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const DataError& e) {
    return e.what();
  }
  return "<no DataError thrown>";
}

// Expects `fn` to throw DataError whose message contains `needle`.
template <typename Fn>
void expect_data_error(Fn&& fn, const std::string& needle) {
  const std::string message = data_error_of(fn);
  EXPECT_NE(message.find(needle), std::string::npos)
      << "message: " << message << "\nexpected to contain: " << needle;
}

inline ::testing::AssertionResult Contains(const std::string& message,
                                           const std::string& fragment) {
  if (message.find(fragment) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "message:  " << message << "\nlacks:    " << fragment;
}

// A scratch directory under the system temp dir named after the test, removed afterwards.
class ScratchDir : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           (std::string("fusebox_data_") + info->test_suite_name() + "_" + info->name());
    ::fusebox::remove_tree(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { ::fusebox::remove_tree(dir_); }

  // Writes `content` to dir_/name (binary, as given) and returns the path.
  std::string write(const std::string& name, const std::string& content) const {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << content;
    return path.string();
  }

  fs::path dir_;
};

}  // namespace fusebox::data::testing
