// HFTokenizer against the Hugging Face `tokenizers` library: every case of the fixture must
// give exactly the ids tokenizers gave, and decode back to the (NFC) text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "data/hf_tokenizer.h"
#include "data/unicode_text.h"
#include "data_test_util.h"

namespace fusebox::data {
namespace {

using testing::Contains;
using testing::data_error_of;
using testing::tokenizer_fixture_dir;
using Ids = std::vector<int64_t>;

struct Case {
  std::string text;
  Ids ids;
};

std::vector<Case> load_cases() {
  std::ifstream in(tokenizer_fixture_dir() / "cases.jsonl");
  std::vector<Case> cases;
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    cases.push_back({j.at("text").get<std::string>(), j.at("ids").get<Ids>()});
  }
  return cases;
}

const HFTokenizer& fixture() {
  static const auto tok = load_hf_tokenizer(tokenizer_fixture_dir().string());
  return *tok;
}

TEST(HFTokenizer, LoadsTheFixtureWithQwensSpecialTokens) {
  const HFTokenizer& tok = fixture();
  EXPECT_EQ(tok.vocab_size(), 820);  // 256 bytes + 561 merges + 3 added
  EXPECT_EQ(tok.eos_id(), 817);      // <|endoftext|>: no tokenizer_config.json, the default
  EXPECT_EQ(tok.pad_id(), 817);
  EXPECT_FALSE(tok.bos_id().has_value());
  const std::vector<SpecialToken> specials = tok.special_tokens();
  ASSERT_EQ(specials.size(), 3u);
  EXPECT_EQ(specials[0].content, "<|endoftext|>");
  EXPECT_EQ(specials[1].content, "<|im_start|>");
  EXPECT_EQ(specials[1].id, 818);
  EXPECT_EQ(specials[2].content, "<|im_end|>");
  EXPECT_TRUE(Contains(tok.describe(), "byte-level BPE, 820 ids, eos <|endoftext|> = 817"));
}

TEST(HFTokenizer, MatchesHuggingFaceTokenizersOnEveryFixtureCase) {
  const std::vector<Case> cases = load_cases();
  ASSERT_GE(cases.size(), 100u);
  int matched = 0;
  for (const Case& c : cases) {
    const Ids got = fixture().encode(c.text);
    EXPECT_EQ(got, c.ids) << "text: " << nlohmann::json(c.text).dump();
    matched += got == c.ids;
  }
  EXPECT_EQ(matched, static_cast<int>(cases.size()));
}

TEST(HFTokenizer, DecodeRoundTripsToTheNfcText) {
  for (const Case& c : load_cases()) {
    EXPECT_EQ(fixture().decode(c.ids), unicode::to_nfc(c.text))
        << "text: " << nlohmann::json(c.text).dump();
  }
}

TEST(HFTokenizer, EncodingIsTheSameWithAWarmCache) {
  // The second pass is served from the word cache; it must not change a single id.
  const std::vector<Case> cases = load_cases();
  for (int pass = 0; pass < 2; ++pass) {
    for (const Case& c : cases)
      ASSERT_EQ(fixture().encode(c.text), c.ids) << "pass " << pass;
  }
}

TEST(HFTokenizer, SpecialTokensInsideTextAreMatchedLongestFirst) {
  const HFTokenizer& tok = fixture();
  const Ids ids = tok.encode("a<|im_start|>b<|im_end|><|endoftext|>");
  ASSERT_EQ(ids.size(), 5u);
  EXPECT_EQ(ids[1], 818);
  EXPECT_EQ(ids[3], 819);
  EXPECT_EQ(ids[4], 817);
  EXPECT_EQ(tok.decode(ids), "a<|im_start|>b<|im_end|><|endoftext|>");
  // A special token is never merged with its neighbours, and an incomplete one is text.
  EXPECT_EQ(tok.encode("x<|endoftext|>"), (Ids{tok.encode("x")[0], 817}));
  const Ids partial = tok.encode("<|endoftext");
  EXPECT_EQ(std::count(partial.begin(), partial.end(), 817), 0);
  EXPECT_EQ(tok.decode(partial), "<|endoftext");
}

TEST(HFTokenizer, DecodeSkipsUnknownIds) {
  const HFTokenizer& tok = fixture();
  const Ids hello = tok.encode("hello");
  Ids with_unknown = {-1, 5000, 820};
  with_unknown.insert(with_unknown.begin() + 1, hello.begin(), hello.end());
  EXPECT_EQ(tok.decode(with_unknown), "hello");
}

TEST(HFTokenizer, InvalidUtf8IsAnError) {
  EXPECT_TRUE(Contains(data_error_of([] { fixture().encode("ok\xC3("); }),
                       "text is not valid UTF-8 (byte 2 of 4)"));
}

// Without tokenizer_config.json eos is <|endoftext|>; with one, its names win.
class TokenizerConfig : public testing::ScratchDir {
 protected:
  std::string copy_fixture() const {
    std::ifstream in(tokenizer_fixture_dir() / "tokenizer.json", std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return write("tokenizer.json", text);
  }
};

TEST_F(TokenizerConfig, NamesEosPadAndBos) {
  const std::string path = copy_fixture();
  write("tokenizer_config.json",
        R"({"eos_token": "<|im_end|>", "pad_token": {"content": "<|endoftext|>"},
            "bos_token": "<|im_start|>"})");
  const auto tok = load_hf_tokenizer(dir_.string());  // a directory holding tokenizer.json
  EXPECT_EQ(tok->eos_id(), 819);
  EXPECT_EQ(tok->pad_id(), 817);
  EXPECT_EQ(tok->bos_id(), 818);
  EXPECT_EQ(tok->path(), path);
}

TEST_F(TokenizerConfig, PadDefaultsToEosAndNullMeansUnset) {
  copy_fixture();
  write("tokenizer_config.json", R"({"eos_token": "<|im_end|>", "bos_token": null})");
  const auto tok = load_hf_tokenizer(dir_.string());
  EXPECT_EQ(tok->pad_id(), 819);
  EXPECT_FALSE(tok->bos_id().has_value());
}

TEST_F(TokenizerConfig, UnknownTokenNameIsAnError) {
  copy_fixture();
  write("tokenizer_config.json", R"({"eos_token": "</s>"})");
  EXPECT_TRUE(Contains(data_error_of([&] { load_hf_tokenizer(dir_.string()); }),
                       "tokenizer_config.json: eos_token \"</s>\" is not a token of"));
  write("tokenizer_config.json", R"({"eos_token": 3})");
  EXPECT_TRUE(Contains(data_error_of([&] { load_hf_tokenizer(dir_.string()); }),
                       "eos_token: expected a token string"));
}

TEST_F(TokenizerConfig, DirectoryWithoutTokenizerJson) {
  EXPECT_TRUE(Contains(data_error_of([&] { load_hf_tokenizer(dir_.string()); }),
                       "' has no tokenizer.json"));
}

}  // namespace
}  // namespace fusebox::data
