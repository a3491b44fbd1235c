// Text and JSONL datasets: documents, eos placement, packing boundaries, truncation, the
// per-epoch shuffle over them, and every error a user can make in a dataset file.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/batcher.h"
#include "data/byte_tokenizer.h"
#include "data/hf_tokenizer.h"
#include "data/token_dataset.h"
#include "data_test_util.h"

namespace fusebox::data {
namespace {

using testing::Contains;
using testing::data_error_of;
using Ids = std::vector<int64_t>;

constexpr int64_t kBos = ByteTokenizer::kBosId;
constexpr int64_t kEos = ByteTokenizer::kEosId;

// A byte-level document: bos, the bytes, eos.
Ids doc(const std::string& text) {
  Ids ids = ByteTokenizer().encode(text, true, true);
  return ids;
}

Ids concat(const std::vector<Ids>& parts) {
  Ids out;
  for (const Ids& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

class TextDataset : public testing::ScratchDir {
 protected:
  std::unique_ptr<TokenDataset> load(const std::string& path, bool packing, int64_t cutoff,
                                     const std::string& text_field = "text") {
    TextDatasetOptions o;
    o.packing = packing;
    o.cutoff_len = cutoff;
    o.text_field = text_field;
    return load_text_dataset(path, "spec", tokenizer_, o);
  }
  std::string error_loading(const std::string& path, int64_t vocab_limit = 0) {
    TextDatasetOptions o;
    o.vocab_limit = vocab_limit;
    return data_error_of([&] { load_text_dataset(path, "spec", tokenizer_, o); });
  }
  ByteTokenizer tokenizer_;
};

TEST_F(TextDataset, TxtDocumentsAreSeparatedByBlankLines) {
  // Lines 1-2 are one document; line 3 is empty and line 5 holds only spaces and a '\r'.
  const std::string path = write("corpus.txt", "one\ntwo\n\n\nthree\r\n  \r\nfour\n");
  auto ds = load(path, false, 1024);
  ASSERT_EQ(ds->size(), 3u);
  EXPECT_EQ(ds->get(0).input_ids, doc("one\ntwo"));
  EXPECT_EQ(ds->get(1).input_ids, doc("three"));  // CRLF's '\r' dropped
  EXPECT_EQ(ds->get(2).input_ids, doc("four"));
  EXPECT_EQ(ds->get(2).labels, ds->get(2).input_ids);  // every position is trained
  EXPECT_EQ(ds->name(), "spec");
  EXPECT_TRUE(Contains(data_error_of([&] { ds->get(3); }), "index 3 out of range for size 3"));
}

TEST_F(TextDataset, JsonlTextFieldInputIdsAndEmptyDocuments) {
  const std::string path = write("corpus.jsonl",
                                 "{\"text\": \"ab\", \"id\": 1}\n"
                                 "\n"                           // blank: skipped
                                 "{\"text\": \"\"}\n"           // empty: skipped
                                 "{\"input_ids\": [5, 6]}\n"    // eos appended
                                 "{\"input_ids\": [7, 257]}\n"  // already ends with eos
                                 "{\"text\": \"zz\", \"input_ids\": [9]}\n"  // ids win
                                 "{\"input_ids\": []}\n");                   // empty: skipped
  auto ds = load(path, false, 1024);
  ASSERT_EQ(ds->size(), 4u);
  EXPECT_EQ(ds->get(0).input_ids, doc("ab"));
  EXPECT_EQ(ds->get(1).input_ids, (Ids{5, 6, kEos}));
  EXPECT_EQ(ds->get(2).input_ids, (Ids{7, kEos}));
  EXPECT_EQ(ds->get(3).input_ids, (Ids{9, kEos}));
}

TEST_F(TextDataset, JsonlCustomTextField) {
  const std::string path = write("c.jsonl", "{\"content\": \"hi\"}\n{\"content\": \"yo\"}\n");
  auto ds = load(path, false, 1024, "content");
  ASSERT_EQ(ds->size(), 2u);
  EXPECT_EQ(ds->get(1).input_ids, doc("yo"));
}

TEST_F(TextDataset, PackingCutsTheEosSeparatedStreamIntoFullRows) {
  const std::string path = write("c.txt", "abc\n\ndefgh\n\ni\n\njklmnopq\n");
  const Ids stream = concat({doc("abc"), doc("defgh"), doc("i"), doc("jklmnopq")});
  ASSERT_EQ(stream.size(), 5u + 7u + 3u + 10u);  // 25 tokens
  auto ds = load(path, true, 4);
  ASSERT_EQ(ds->size(), 6u);  // floor(25 / 4); the last token is dropped
  EXPECT_EQ(ds->dropped_tokens(), 1);
  Ids rejoined;
  for (std::size_t r = 0; r < ds->size(); ++r) {
    const Example ex = ds->get(r);
    ASSERT_EQ(ex.input_ids.size(), 4u);
    EXPECT_EQ(ex.labels, ex.input_ids);
    rejoined.insert(rejoined.end(), ex.input_ids.begin(), ex.input_ids.end());
  }
  EXPECT_EQ(rejoined, Ids(stream.begin(), stream.begin() + 24));
  // Row 0 is bos "abc"; row 1 starts where the first document ends: eos | bos "de".
  EXPECT_EQ(ds->get(0).input_ids, (Ids{kBos, 'a', 'b', 'c'}));
  EXPECT_EQ(ds->get(1).input_ids, (Ids{kEos, kBos, 'd', 'e'}));
  // Exactly divisible: nothing dropped.
  auto even = load(path, true, 5);
  EXPECT_EQ(even->size(), 5u);
  EXPECT_EQ(even->dropped_tokens(), 0);
}

TEST_F(TextDataset, PackingACorpusShorterThanOneRowGivesOneShortRow) {
  auto ds = load(write("c.txt", "ab\n"), true, 64);
  ASSERT_EQ(ds->size(), 1u);
  EXPECT_EQ(ds->get(0).input_ids, doc("ab"));
}

TEST_F(TextDataset, WithoutPackingLongDocumentsAreTruncated) {
  auto ds = load(write("c.txt", "abcdefgh\n\nxy\n"), false, 4);
  ASSERT_EQ(ds->size(), 2u);
  EXPECT_EQ(ds->get(0).input_ids, (Ids{kBos, 'a', 'b', 'c'}));
  EXPECT_EQ(ds->get(1).input_ids, doc("xy"));
  EXPECT_EQ(ds->truncated_documents(), 1);
  EXPECT_EQ(ds->dropped_tokens(), 6);  // 10 tokens, 4 kept
}

TEST_F(TextDataset, HFTokenizerDocumentsEndWithEndOfTextAndHaveNoBos) {
  const auto tok = load_hf_tokenizer(testing::tokenizer_fixture_dir().string());
  const std::string path = write("c.jsonl", "{\"text\": \"hello world\"}\n");
  auto ds = load_text_dataset(path, "spec", *tok, {});
  Ids expected = tok->encode("hello world");
  expected.push_back(817);
  EXPECT_EQ(ds->get(0).input_ids, expected);
}

TEST_F(TextDataset, EpochShuffleIsDeterministicAndResumable) {
  std::string text;
  for (int d = 0; d < 40; ++d)
    text +=
        std::string(static_cast<std::size_t>(1 + d % 7), static_cast<char>('a' + d % 26)) + "\n\n";
  auto ds = load(write("c.txt", text), false, 64);
  Batcher a(*ds, 4, 64, 9, ByteTokenizer::kPadId);
  Batcher b(*ds, 4, 64, 9, ByteTokenizer::kPadId);
  std::vector<Batch> first_run;
  for (int k = 0; k < 25; ++k) {  // into the third epoch (10 batches per epoch)
    const Batch x = a.next();
    const Batch y = b.next();
    EXPECT_EQ(x.input_ids, y.input_ids);
    EXPECT_EQ(x.attention_mask, y.attention_mask);
    first_run.push_back(x);
  }
  EXPECT_NE(first_run[0].input_ids, first_run[10].input_ids);  // epoch 1 reshuffled
  Batcher resumed(*ds, 4, 64, 9, ByteTokenizer::kPadId);
  resumed.set_position(1, 3);
  for (int k = 13; k < 25; ++k)
    EXPECT_EQ(resumed.next().input_ids, first_run[static_cast<std::size_t>(k)].input_ids) << k;
}

TEST_F(TextDataset, FileErrors) {
  const std::string missing = (dir_ / "missing.jsonl").string();
  EXPECT_TRUE(Contains(error_loading(missing), "dataset file '" + missing + "' not found"));
  EXPECT_TRUE(Contains(error_loading(write("data.csv", "a,b\n")),
                       "data.csv': unsupported file type '.csv'; expected a .txt file"));
  EXPECT_TRUE(Contains(error_loading(write("blank.txt", "\n  \n\n")),
                       "blank.txt' has no documents (3 lines read, 0 empty documents skipped)"));
  EXPECT_TRUE(Contains(error_loading(write("empty.jsonl", "{\"text\": \"\"}\n")),
                       "empty.jsonl' has no documents (1 lines read, 1 empty documents skipped)"));
  EXPECT_TRUE(Contains(error_loading(write("bad.txt", "fine\nbad \xFF byte\n")),
                       "bad.txt:2: not valid UTF-8 (byte 5 of the line)"));
}

TEST_F(TextDataset, JsonlLineErrorsNameTheLine) {
  EXPECT_TRUE(Contains(error_loading(write("a.jsonl", "{\"text\": \"x\"}\n{\"text\": \"y\",}\n")),
                       "a.jsonl:2: invalid JSON: "));
  EXPECT_TRUE(Contains(error_loading(write("b.jsonl", "{\"text\": \"x\"}\n\n[1, 2]\n")),
                       "b.jsonl:3: expected a JSON object, got array"));
  EXPECT_TRUE(Contains(error_loading(write("c.jsonl", "{\"content\": \"x\", \"id\": 3}\n")),
                       "c.jsonl:1: no \"text\" field (keys: \"content\", \"id\"); set text_field"));
  EXPECT_TRUE(Contains(error_loading(write("d.jsonl", "{\"text\": 12}\n")),
                       "d.jsonl:1: \"text\": expected a string, got number"));
  EXPECT_TRUE(Contains(error_loading(write("e.jsonl", "{\"input_ids\": [1, \"2\"]}\n")),
                       "e.jsonl:1: input_ids[1]: expected an integer token id, got \"2\""));
  EXPECT_TRUE(Contains(error_loading(write("f.jsonl", "{\"input_ids\": 4}\n")),
                       "f.jsonl:1: input_ids: expected a list of ids, got number"));
}

TEST_F(TextDataset, TokenIdsOutsideTheModelsVocabulary) {
  const std::string path =
      write("ids.jsonl", "{\"input_ids\": [1, 2]}\n{\"input_ids\": [3, 300]}\n");
  EXPECT_TRUE(Contains(error_loading(path, 300),
                       "ids.jsonl:2: input_ids[1]: token id 300 is outside the model's vocabulary "
                       "(vocab_size 300, so ids 0..299)"));
  EXPECT_EQ(error_loading(path, 301), "<no DataError thrown>");
  EXPECT_TRUE(Contains(error_loading(write("neg.jsonl", "{\"input_ids\": [-1]}\n"), 300),
                       "neg.jsonl:1: input_ids[0]: token id -1 is outside"));
  // Without a model limit the tokenizer's own vocabulary (259 ids) is the limit.
  EXPECT_TRUE(Contains(error_loading(path),
                       "token id 300 is outside the model's vocabulary "
                       "(vocab_size 259"));
}

TEST_F(TextDataset, CutoffLenMustLeaveSomethingToPredict) {
  TextDatasetOptions o;
  o.cutoff_len = 1;
  EXPECT_TRUE(Contains(
      data_error_of([&] { load_text_dataset(write("c.txt", "ab\n"), "spec", tokenizer_, o); }),
      "dataset 'spec': cutoff_len must be >= 2, but got 1"));
}

}  // namespace
}  // namespace fusebox::data
