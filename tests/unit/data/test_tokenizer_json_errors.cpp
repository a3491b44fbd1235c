// tokenizer.json files fusebox would encode differently from `tokenizers` are refused, with
// the file, the field and what is supported in the message. Each test edits one field of the
// fixture.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <functional>
#include <string>

#include "data/hf_tokenizer.h"
#include "data_test_util.h"

namespace fusebox::data {
namespace {

using json = nlohmann::json;
using testing::Contains;
using testing::data_error_of;

class TokenizerJsonErrors : public testing::ScratchDir {
 protected:
  static json fixture() {
    std::ifstream in(testing::tokenizer_fixture_dir() / "tokenizer.json");
    return json::parse(in);
  }
  // The message of loading the fixture after `edit`.
  std::string error_after(const std::function<void(json&)>& edit) {
    json j = fixture();
    edit(j);
    const std::string path = write("tokenizer.json", j.dump());
    return data_error_of([&] { HFTokenizer::load(path); });
  }
  json& pre(json& j, int i) { return j["pre_tokenizer"]["pretokenizers"][i]; }
};

TEST_F(TokenizerJsonErrors, UnchangedFixtureLoads) {
  EXPECT_EQ(error_after([](json&) {}), "<no DataError thrown>");
}

TEST_F(TokenizerJsonErrors, MissingFileAndInvalidJson) {
  const std::string missing = (dir_ / "nope.json").string();
  EXPECT_TRUE(Contains(data_error_of([&] { HFTokenizer::load(missing); }),
                       "tokenizer file '" + missing + "' not found"));
  const std::string broken = write("tokenizer.json", "{\"model\": ");
  EXPECT_TRUE(
      Contains(data_error_of([&] { HFTokenizer::load(broken); }), broken + ": invalid JSON"));
}

TEST_F(TokenizerJsonErrors, OtherModelTypes) {
  const std::string msg = error_after([](json& j) { j["model"]["type"] = "Unigram"; });
  EXPECT_TRUE(Contains(msg,
                       "tokenizer.json: model.type: 'Unigram' is not supported; only "
                       "byte-level BPE tokenizers"));
  EXPECT_TRUE(Contains(error_after([](json& j) { j["model"]["dropout"] = 0.1; }),
                       "model.dropout: 0.1 is not supported"));
  EXPECT_TRUE(Contains(error_after([](json& j) { j["model"]["continuing_subword_prefix"] = "##"; }),
                       "model.continuing_subword_prefix: \"##\" is not supported"));
  EXPECT_TRUE(Contains(error_after([](json& j) { j["model"]["byte_fallback"] = true; }),
                       "model.byte_fallback: true is not supported"));
  EXPECT_TRUE(
      Contains(error_after([](json& j) { j["model"].erase("vocab"); }), "model.vocab: missing"));
}

TEST_F(TokenizerJsonErrors, OtherPreTokenizers) {
  EXPECT_TRUE(Contains(error_after([](json& j) {
                         j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}};
                       }),
                       "pre_tokenizer: 'ByteLevel' (expected Qwen's Sequence[Split(regex), "
                       "ByteLevel(use_regex=false)]) is not supported"));
  EXPECT_TRUE(Contains(error_after([](json& j) { j["pre_tokenizer"] = nullptr; }),
                       "pre_tokenizer: a null"));
  EXPECT_TRUE(Contains(error_after([&](json& j) { pre(j, 0)["pattern"]["Regex"] = "\\w+|\\s+"; }),
                       "pre_tokenizer.pretokenizers[0].pattern: {\"Regex\":\"\\\\w+|\\\\s+\"} is "
                       "not supported"));
  EXPECT_TRUE(Contains(error_after([&](json& j) { pre(j, 0)["behavior"] = "Removed"; }),
                       "pre_tokenizer.pretokenizers[0].behavior: 'Removed' is not supported"));
  EXPECT_TRUE(Contains(error_after([&](json& j) { pre(j, 1)["add_prefix_space"] = true; }),
                       "pre_tokenizer.pretokenizers[1].add_prefix_space: true is not supported"));
  EXPECT_TRUE(Contains(error_after([&](json& j) { pre(j, 1)["type"] = "Metaspace"; }),
                       "pre_tokenizer.pretokenizers[1]: 'Metaspace'"));
}

TEST_F(TokenizerJsonErrors, NormalizerAndDecoder) {
  EXPECT_TRUE(Contains(error_after([](json& j) {
                         j["normalizer"] = {{"type", "NFKC"}};
                       }),
                       "normalizer.type: 'NFKC' is not supported"));
  EXPECT_TRUE(Contains(
      error_after([](json& j) {
        j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "Lowercase"}}}}};
      }),
      "normalizer.normalizers[0].type: 'Lowercase' is not supported"));
  EXPECT_TRUE(Contains(error_after([](json& j) {
                         j["decoder"] = {{"type", "WordPiece"}};
                       }),
                       "decoder.type: 'WordPiece' is not supported"));
  // A Sequence of NFC and no normaliser at all are both fine.
  EXPECT_EQ(error_after([](json& j) {
              j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}}}};
            }),
            "<no DataError thrown>");
  EXPECT_EQ(error_after([](json& j) { j["normalizer"] = nullptr; }), "<no DataError thrown>");
}

TEST_F(TokenizerJsonErrors, BadMerges) {
  EXPECT_TRUE(Contains(error_after([](json& j) {
                         j["model"]["merges"][3] = {"e", "zz"};
                       }),
                       "model.merges[3]: \"e\" + \"zz\": \"zz\" is not in model.vocab"));
  EXPECT_TRUE(Contains(error_after([](json& j) { j["model"]["merges"][3] = 7; }),
                       "model.merges[3]: expected a pair [\"a\", \"b\"] or a string \"a b\""));
  EXPECT_TRUE(
      Contains(error_after([](json& j) { j["model"]["merges"][5] = j["model"]["merges"][3]; }),
               "model.merges[5]: \"r\" + \"e\" is listed twice"));
}

TEST_F(TokenizerJsonErrors, LegacyMergeStringsGiveTheSameIds) {
  json j = fixture();
  for (json& m : j["model"]["merges"])
    m = m[0].get<std::string>() + " " + m[1].get<std::string>();
  const auto legacy = HFTokenizer::load(write("tokenizer.json", j.dump()));
  const auto pairs = load_hf_tokenizer(testing::tokenizer_fixture_dir().string());
  const std::string text = "it's the model learning 12 numbers, caf\u00e9!";
  EXPECT_EQ(legacy->encode(text), pairs->encode(text));
}

TEST_F(TokenizerJsonErrors, BadVocabAndAddedTokens) {
  EXPECT_TRUE(Contains(error_after([](json& j) { j["model"]["vocab"]["er"] = 0; }),
                       "model.vocab: id 0 is given to both"));
  EXPECT_TRUE(Contains(error_after([](json& j) { j["model"]["vocab"]["er"] = -4; }),
                       "model.vocab[\"er\"]: expected a token id"));
  EXPECT_TRUE(Contains(error_after([](json& j) { j["added_tokens"][1]["lstrip"] = true; }),
                       "added_tokens[1].lstrip: true is not supported"));
  EXPECT_TRUE(Contains(error_after([](json& j) { j["added_tokens"][0]["content"] = ""; }),
                       "added_tokens[0].content: is empty"));
  EXPECT_TRUE(Contains(error_after([](json& j) { j["added_tokens"][0]["id"] = 5; }),
                       "added_tokens[0]: id 5 is \"<|endoftext|>\" here but \"&\" in model.vocab"));
}

TEST_F(TokenizerJsonErrors, NoEndOfDocumentToken) {
  const std::string msg = error_after([](json& j) { j["added_tokens"].erase(0); });
  EXPECT_TRUE(Contains(msg, "no end-of-document token: the vocabulary has no <|endoftext|>"));
  EXPECT_TRUE(Contains(msg, "there is no tokenizer_config.json next to it"));
}

}  // namespace
}  // namespace fusebox::data
