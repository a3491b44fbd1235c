#include "data/hf_tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <utility>

#include "data/input_file.h"
#include "data/qwen_pretokenizer.h"
#include "data/unicode_text.h"
#include "util/error.h"
#include "util/strings.h"

namespace fusebox::data {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// What Qwen's base models end documents with; used when no tokenizer_config.json says.
constexpr const char* kDefaultEos = "<|endoftext|>";

std::vector<std::pair<std::string, int32_t>> added_with(const std::vector<AddedTokenEntry>& all,
                                                        bool normalized) {
  std::vector<std::pair<std::string, int32_t>> out;
  for (const AddedTokenEntry& t : all) {
    if (t.normalized == normalized) out.emplace_back(t.content, t.id);
  }
  return out;
}

// tokenizer_config.json names a token as a string, as {"content": "..."} (an AddedToken
// dump), or null.
std::optional<std::string> config_token(const json& config, const char* key,
                                        const std::string& config_path) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  throw DataError(str(config_path, ": ", key, ": expected a token string, {\"content\": ...} or ",
                      "null, got ", it->dump()));
}

}  // namespace

std::unique_ptr<HFTokenizer> HFTokenizer::load(const std::string& tokenizer_json_path) {
  TokenizerJson tj = read_tokenizer_json(tokenizer_json_path);
  std::optional<std::string> eos_name, pad_name, bos_name;
  const std::string config_path =
      (fs::path(tokenizer_json_path).parent_path() / "tokenizer_config.json").string();
  std::error_code ec;
  const bool has_config = fs::is_regular_file(config_path, ec);
  if (has_config) {
    json config;
    try {
      config = json::parse(read_input_file(config_path, "tokenizer config"));
    } catch (const json::parse_error& e) {
      throw DataError(str(config_path, ": invalid JSON: ", e.what()));
    }
    if (!config.is_object()) throw DataError(str(config_path, ": expected a JSON object"));
    eos_name = config_token(config, "eos_token", config_path);
    pad_name = config_token(config, "pad_token", config_path);
    bos_name = config_token(config, "bos_token", config_path);
  }
  auto id_of = [&](const std::string& name, const char* key) -> int64_t {
    auto it = tj.ids_by_name.find(name);
    if (it == tj.ids_by_name.end()) {
      throw DataError(str(config_path, ": ", key, " ", json(name).dump(), " is not a token of ",
                          tokenizer_json_path));
    }
    return it->second;
  };
  SpecialIds ids;
  if (eos_name) {
    ids.eos = id_of(*eos_name, "eos_token");
  } else if (tj.ids_by_name.count(kDefaultEos) != 0) {
    ids.eos = tj.ids_by_name.at(kDefaultEos);
  } else {
    throw DataError(str(tokenizer_json_path, ": no end-of-document token: the vocabulary has no ",
                        kDefaultEos, " and ",
                        has_config ? config_path + " names no eos_token"
                                   : "there is no tokenizer_config.json next to it",
                        "; datasets need one to end documents"));
  }
  ids.pad = pad_name ? id_of(*pad_name, "pad_token") : ids.eos;
  if (bos_name) ids.bos = id_of(*bos_name, "bos_token");
  return std::unique_ptr<HFTokenizer>(new HFTokenizer(std::move(tj), ids));
}

HFTokenizer::HFTokenizer(TokenizerJson tj, SpecialIds ids)
    : path_(tj.path),
      nfc_(tj.nfc),
      raw_added_(added_with(tj.added_tokens, false)),
      normalized_added_(added_with(tj.added_tokens, true)),
      bpe_(std::move(tj.bpe)),
      id_bytes_(std::move(tj.id_bytes)),
      id_known_(std::move(tj.id_known)),
      vocab_size_(tj.vocab_size),
      bos_(ids.bos),
      eos_(ids.eos),
      pad_(ids.pad) {
  for (const AddedTokenEntry& t : tj.added_tokens) {
    if (t.special) specials_.push_back({t.content, t.id});
  }
  std::sort(specials_.begin(), specials_.end(),
            [](const SpecialToken& a, const SpecialToken& b) { return a.id < b.id; });
}

std::string HFTokenizer::describe() const {
  auto name = [&](int64_t id) { return id_bytes_[static_cast<std::size_t>(id)]; };
  std::string out = str(path_, " (byte-level BPE, ", vocab_size_, " ids, eos ", name(eos_), " = ",
                        eos_, ", pad ", name(pad_), " = ", pad_);
  if (bos_) out += str(", bos ", name(*bos_), " = ", *bos_);
  return out + ")";
}

std::vector<int64_t> HFTokenizer::encode(const std::string& text) const {
  const std::size_t bad = unicode::find_invalid_utf8(text);
  if (bad != std::string::npos) {
    throw DataError(str("text is not valid UTF-8 (byte ", bad, " of ", text.size(), ")"));
  }
  std::vector<int64_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<AddedTokenMatcher::Segment> segments;
  raw_added_.split(text, &segments);
  for (const auto& segment : segments) {
    if (segment.id == AddedTokenMatcher::Segment::kText) {
      encode_normalizable(segment.text, &ids);
    } else {
      ids.push_back(segment.id);
    }
  }
  return ids;
}

void HFTokenizer::encode_normalizable(std::string_view text, std::vector<int64_t>* ids) const {
  const std::string normalized = nfc_ ? unicode::to_nfc(text) : std::string(text);
  if (normalized_added_.empty()) {
    encode_plain(normalized, ids);
    return;
  }
  std::vector<AddedTokenMatcher::Segment> segments;
  normalized_added_.split(normalized, &segments);
  for (const auto& segment : segments) {
    if (segment.id == AddedTokenMatcher::Segment::kText) {
      encode_plain(segment.text, ids);
    } else {
      ids->push_back(segment.id);
    }
  }
}

void HFTokenizer::encode_plain(std::string_view text, std::vector<int64_t>* ids) const {
  std::vector<char32_t> code_points;
  std::vector<uint32_t> offsets;
  std::vector<Piece> pieces;
  unicode::decode_utf8(text, &code_points, &offsets);
  qwen_pretokenize(code_points, &pieces);
  for (const Piece& p : pieces) {
    const std::size_t begin = offsets[p.begin];
    bpe_.encode_word(text.substr(begin, offsets[p.end] - begin), ids);
  }
}

std::string HFTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string text;
  for (int64_t id : ids) {
    if (id >= 0 && id < vocab_size_ && id_known_[static_cast<std::size_t>(id)])
      text += id_bytes_[static_cast<std::size_t>(id)];
  }
  return text;
}

std::unique_ptr<HFTokenizer> load_hf_tokenizer(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path file = fs::path(path) / "tokenizer.json";
    if (!fs::is_regular_file(file, ec)) {
      throw DataError(str("tokenizer directory '", path, "' has no tokenizer.json"));
    }
    return HFTokenizer::load(file.string());
  }
  return HFTokenizer::load(path);
}

}  // namespace fusebox::data
