#include "data/document_reader.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "data/input_file.h"
#include "data/unicode_text.h"
#include "util/error.h"
#include "util/strings.h"

namespace fusebox::data {
namespace {

using json = nlohmann::json;

class CorpusBuilder {
 public:
  CorpusBuilder(std::string path, const Tokenizer& tokenizer, int64_t vocab_limit)
      : path_(std::move(path)), tokenizer_(tokenizer), vocab_limit_(vocab_limit) {}

  [[noreturn]] void fail(int64_t line, const std::string& message) const {
    throw DataError(str(path_, ":", line, ": ", message));
  }

  void add_text(const std::string& text, int64_t line) {
    std::vector<int64_t> ids;
    try {
      ids = tokenizer_.encode(text);
    } catch (const DataError& e) {
      fail(line, e.what());
    }
    if (ids.empty()) {
      ++corpus_.skipped_empty;
      return;
    }
    if (std::optional<int64_t> bos = tokenizer_.bos_id()) ids.insert(ids.begin(), *bos);
    add_ids(ids, line);
  }

  // Pre-tokenized ids are checked against the model's vocabulary; encoded text is already
  // inside the tokenizer's, which the caller checked against the model's once.
  void add_input_ids(const json& array, int64_t line) {
    if (!array.is_array())
      fail(line, str("input_ids: expected a list of ids, got ", array.type_name()));
    if (array.empty()) {
      ++corpus_.skipped_empty;
      return;
    }
    std::vector<int64_t> ids;
    ids.reserve(array.size());
    for (std::size_t k = 0; k < array.size(); ++k) {
      const json& v = array[k];
      if (!v.is_number_integer()) {
        fail(line, str("input_ids[", k, "]: expected an integer token id, got ", v.dump()));
      }
      const int64_t id =
          v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX ? INT64_MAX : v.get<int64_t>();
      if (id < 0 || id >= vocab_limit_) {
        fail(line, str("input_ids[", k, "]: token id ", id, " is outside the model's vocabulary",
                       " (vocab_size ", vocab_limit_, ", so ids 0..", vocab_limit_ - 1, ")"));
      }
      ids.push_back(id);
    }
    if (ids.back() == tokenizer_.eos_id()) ids.pop_back();  // add_ids appends it again
    add_ids(ids, line);
  }

  TokenizedCorpus finish(int64_t lines_read) {
    if (corpus_.num_documents() == 0) {
      throw DataError(str("dataset file '", path_, "' has no documents (", lines_read,
                          " lines read, ", corpus_.skipped_empty, " empty documents skipped)"));
    }
    return std::move(corpus_);
  }

 private:
  void add_ids(const std::vector<int64_t>& ids, int64_t line) {
    for (int64_t id : ids)
      corpus_.tokens.push_back(static_cast<int32_t>(id));
    corpus_.tokens.push_back(static_cast<int32_t>(tokenizer_.eos_id()));
    corpus_.starts.push_back(corpus_.tokens.size());
    corpus_.lines.push_back(line);
  }

  std::string path_;
  const Tokenizer& tokenizer_;
  int64_t vocab_limit_;
  TokenizedCorpus corpus_;
};

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t\r") == std::string::npos;
}

TokenizedCorpus read_text_file(const std::string& path, CorpusBuilder builder) {
  std::ifstream in = open_input_file(path, "dataset");
  std::string line, document;
  int64_t line_number = 0, document_line = 0;
  auto flush = [&] {
    if (document_line > 0) builder.add_text(document, document_line);
    document.clear();
    document_line = 0;
  };
  while (std::getline(in, line)) {
    ++line_number;
    const std::size_t bad = unicode::find_invalid_utf8(line);
    if (bad != std::string::npos) {
      builder.fail(line_number, str("not valid UTF-8 (byte ", bad + 1, " of the line)"));
    }
    if (is_blank(line)) {
      flush();
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (document_line == 0) {
      document_line = line_number;
    } else {
      document += '\n';
    }
    document += line;
  }
  if (in.bad()) throw DataError(str("cannot read dataset file '", path, "'"));
  flush();
  return builder.finish(line_number);
}

// nlohmann's message for a parse error names "line 1" of the one-line text it was given and
// carries a "[json.exception...] " prefix; keep only what helps to fix the line.
std::string json_error(const json::parse_error& e) {
  std::string m = e.what();
  const std::size_t bracket = m.find("] ");
  if (bracket != std::string::npos) m = m.substr(bracket + 2);
  const std::string line_one = "at line 1, ";
  const std::size_t at = m.find(line_one);
  if (at != std::string::npos) m.replace(at, line_one.size(), "at ");
  return m;
}

std::string key_list(const json& object) {
  std::vector<std::string> keys;
  for (auto it = object.begin(); it != object.end(); ++it)
    keys.push_back(json(it.key()).dump());
  return keys.empty() ? "none" : join(keys, ", ");
}

TokenizedCorpus read_jsonl_file(const std::string& path, const std::string& text_field,
                                CorpusBuilder builder) {
  std::ifstream in = open_input_file(path, "dataset");
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (is_blank(line)) continue;
    json row;
    try {
      row = json::parse(line);
    } catch (const json::parse_error& e) {
      builder.fail(line_number, "invalid JSON: " + json_error(e));
    }
    if (!row.is_object()) {
      builder.fail(line_number, str("expected a JSON object, got ", row.type_name()));
    }
    auto ids = row.find("input_ids");
    if (ids != row.end()) {
      builder.add_input_ids(*ids, line_number);
      continue;
    }
    auto text = row.find(text_field);
    if (text == row.end()) {
      builder.fail(line_number, str("no ", json(text_field).dump(), " field (keys: ", key_list(row),
                                    "); set text_field to the key that holds the text, or give ",
                                    "pre-tokenized \"input_ids\""));
    }
    if (!text->is_string()) {
      builder.fail(line_number,
                   str(json(text_field).dump(), ": expected a string, got ", text->type_name()));
    }
    builder.add_text(text->get<std::string>(), line_number);
  }
  if (in.bad()) throw DataError(str("cannot read dataset file '", path, "'"));
  return builder.finish(line_number);
}

}  // namespace

TokenizedCorpus read_documents(const std::string& path, const Tokenizer& tokenizer,
                               const DocumentOptions& options) {
  const int64_t vocab_limit =
      options.vocab_limit > 0 ? options.vocab_limit : tokenizer.vocab_size();
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".txt") return read_text_file(path, CorpusBuilder(path, tokenizer, vocab_limit));
  if (ext == ".jsonl") {
    return read_jsonl_file(path, options.text_field, CorpusBuilder(path, tokenizer, vocab_limit));
  }
  throw DataError(str("dataset file '", path, "': unsupported file type '", ext,
                      "'; expected a .txt file (documents separated by blank lines) or a .jsonl ",
                      "file (one JSON object per line)"));
}

}  // namespace fusebox::data
