// Shared helpers for the io tests: scratch directories, small model configs, hand-made
// safetensors bytes, and checks on error messages.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "model/qwen3_config.h"
#include "util/error.h"
#include "util/remove_tree.h"

namespace fusebox::io::testing {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir (mkdtemp: unique across parallel ctest
// processes), removed with everything in it at the end. Not named after the running test:
// ::testing::UnitTest::GetInstance() crashed in torch-linked test binaries on the GPU machine
// (the torch 2.11 wheel's libraries carry gtest symbols of their own).
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "fusebox_test_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    ec = ::fusebox::remove_tree(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// A Qwen3 small enough to save and load in milliseconds, with GQA and head_dim != hidden/heads.
inline model::Qwen3Config small_config(bool tied) {
  model::Qwen3Config c;
  c.vocab_size = 97;
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.max_position_embeddings = 256;
  c.rope_theta = 1e6;
  c.tie_word_embeddings = tied;
  return c;
}

// The bytes of a safetensors file with header `json` (unpadded) and `data_size` zero bytes
// of data after it.
inline std::string safetensors_bytes(const std::string& json, size_t data_size = 0) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + json + std::string(data_size, '\0');
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The DataError message `fn` throws, or a marker that fails every Contains() check. Other
// exception types are not caught: they are bugs to see.
template <typename Fn>
std::string data_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const fusebox::DataError& e) {
    return e.what();
  }
  return "<no DataError thrown>";
}

inline ::testing::AssertionResult Contains(const std::string& message,
                                           const std::string& fragment) {
  if (message.find(fragment) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "message:  " << message << "\nlacks:    " << fragment;
}

}  // namespace fusebox::io::testing
