#include "data/tokenizer_json.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <unordered_set>
#include <utility>

#include "data/byte_level.h"
#include "data/input_file.h"
#include "data/qwen_pretokenizer.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strings.h"

namespace fusebox::data {
namespace {

using json = nlohmann::json;

const char* const kSupported =
    "only byte-level BPE tokenizers of the kind Qwen2/Qwen3 ship are supported";

// Field access that blames the field by its path in the file.
class JsonFields {
 public:
  explicit JsonFields(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw DataError(str(path_, ": ", field, ": ", message));
  }
  [[noreturn]] void unsupported(const std::string& field, const std::string& got) const {
    fail(field, str(got, " is not supported; ", kSupported));
  }

  const json& member(const json& object, const std::string& key, const std::string& field) const {
    auto it = object.find(key);
    if (it == object.end()) fail(field, "missing");
    return *it;
  }
  const json& object(const json& parent, const std::string& key, const std::string& field) const {
    const json& v = member(parent, key, field);
    if (!v.is_object()) fail(field, str("expected an object, got ", v.type_name()));
    return v;
  }
  std::string string(const json& parent, const std::string& key, const std::string& field) const {
    const json& v = member(parent, key, field);
    if (!v.is_string()) fail(field, str("expected a string, got ", v.type_name()));
    return v.get<std::string>();
  }
  // An optional bool: absent or null reads as `fallback`.
  bool flag(const json& parent, const std::string& key, const std::string& field,
            bool fallback) const {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail(field, str("expected true or false, got ", it->type_name()));
    return it->get<bool>();
  }
  int32_t id(const json& v, const std::string& field) const {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX) {
      fail(field, str("expected a token id (an integer in [0, 2^31)), got ", v.dump()));
    }
    return static_cast<int32_t>(v.get<int64_t>());
  }

 private:
  std::string path_;
};

std::string type_of(const json& v) {
  if (v.is_object() && v.contains("type") && v["type"].is_string()) {
    return "'" + v["type"].get<std::string>() + "'";
  }
  return str("a ", v.type_name());
}

bool read_normalizer(const JsonFields& f, const json& root) {
  auto it = root.find("normalizer");
  if (it == root.end() || it->is_null()) return false;
  const std::string type = f.string(*it, "type", "normalizer.type");
  if (type == "NFC") return true;
  if (type != "Sequence") f.unsupported("normalizer.type", "'" + type + "'");
  const json& list = f.member(*it, "normalizers", "normalizer.normalizers");
  if (!list.is_array()) {
    f.fail("normalizer.normalizers", str("expected a list, got ", list.type_name()));
  }
  bool nfc = false;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string field = str("normalizer.normalizers[", i, "].type");
    const std::string t = f.string(list[i], "type", field);
    if (t != "NFC") f.unsupported(field, "'" + t + "'");
    nfc = true;
  }
  return nfc;
}

void check_pre_tokenizer(const JsonFields& f, const json& root) {
  const std::string expected = "expected Qwen's Sequence[Split(regex), ByteLevel(use_regex=false)]";
  const json& pre = f.member(root, "pre_tokenizer", "pre_tokenizer");
  if (!pre.is_object() || f.string(pre, "type", "pre_tokenizer.type") != "Sequence") {
    f.unsupported("pre_tokenizer", str(type_of(pre), " (", expected, ")"));
  }
  const json& list = f.member(pre, "pretokenizers", "pre_tokenizer.pretokenizers");
  if (!list.is_array() || list.size() != 2) {
    f.unsupported("pre_tokenizer.pretokenizers",
                  str("a list of ", list.size(), " pre-tokenizers (", expected, ")"));
  }
  const json& split = list[0];
  if (f.string(split, "type", "pre_tokenizer.pretokenizers[0].type") != "Split") {
    f.unsupported("pre_tokenizer.pretokenizers[0]", type_of(split) + " (" + expected + ")");
  }
  const json& pattern = f.object(split, "pattern", "pre_tokenizer.pretokenizers[0].pattern");
  auto regex = pattern.find("Regex");
  if (regex == pattern.end() || !regex->is_string() ||
      regex->get<std::string>() != kQwenPretokenizerPattern) {
    f.fail("pre_tokenizer.pretokenizers[0].pattern",
           str(pattern.dump(), " is not supported; only Qwen's regex ",
               json(kQwenPretokenizerPattern).dump(), " is implemented"));
  }
  const std::string behavior =
      f.string(split, "behavior", "pre_tokenizer.pretokenizers[0].behavior");
  if (behavior != "Isolated") {
    f.unsupported("pre_tokenizer.pretokenizers[0].behavior", "'" + behavior + "'");
  }
  if (f.flag(split, "invert", "pre_tokenizer.pretokenizers[0].invert", false)) {
    f.unsupported("pre_tokenizer.pretokenizers[0].invert", "true");
  }
  const json& byte_level = list[1];
  if (f.string(byte_level, "type", "pre_tokenizer.pretokenizers[1].type") != "ByteLevel") {
    f.unsupported("pre_tokenizer.pretokenizers[1]", type_of(byte_level) + " (" + expected + ")");
  }
  for (const char* key : {"add_prefix_space", "use_regex"}) {
    const std::string field = str("pre_tokenizer.pretokenizers[1].", key);
    if (f.flag(byte_level, key, field, true)) f.unsupported(field, "true");
  }
}

void check_decoder(const JsonFields& f, const json& root) {
  auto it = root.find("decoder");
  if (it == root.end() || it->is_null()) return;
  const std::string type = f.string(*it, "type", "decoder.type");
  if (type != "ByteLevel") f.unsupported("decoder.type", "'" + type + "'");
}

// The BPE model's settings other than vocab and merges.
void check_model_options(const JsonFields& f, const json& model) {
  const std::string type = f.string(model, "type", "model.type");
  if (type != "BPE") f.unsupported("model.type", "'" + type + "'");
  auto dropout = model.find("dropout");
  if (dropout != model.end() && !dropout->is_null() &&
      !(dropout->is_number() && dropout->get<double>() == 0.0)) {
    f.unsupported("model.dropout", dropout->dump());
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it != model.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()))
      f.unsupported(str("model.", key), it->dump());
  }
  for (const char* key : {"byte_fallback", "fuse_unk"}) {
    if (f.flag(model, key, str("model.", key), false)) f.unsupported(str("model.", key), "true");
  }
}

// merges: [["a", "b"], ...] (tokenizers >= 0.20) or ["a b", ...] (older files).
void read_merges(const JsonFields& f, const json& model,
                 const std::unordered_map<std::string, int32_t>& vocab,
                 std::vector<BpeMerge>* out) {
  const json& merges = f.member(model, "merges", "model.merges");
  if (!merges.is_array()) f.fail("model.merges", str("expected a list, got ", merges.type_name()));
  std::unordered_set<uint64_t> seen;
  out->reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const std::string field = str("model.merges[", i, "]");
    const json& m = merges[i];
    std::string left, right;
    if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else if (m.is_string() && split(m.get<std::string>(), ' ').size() == 2) {
      const std::vector<std::string> parts = split(m.get<std::string>(), ' ');
      left = parts[0];
      right = parts[1];
    } else {
      f.fail(field, str("expected a pair [\"a\", \"b\"] or a string \"a b\", got ", m.dump()));
    }
    auto id_of = [&](const std::string& name) {
      auto it = vocab.find(name);
      if (it == vocab.end()) {
        f.fail(field, str(json(left).dump(), " + ", json(right).dump(), ": ", json(name).dump(),
                          " is not in model.vocab"));
      }
      return it->second;
    };
    const BpeMerge merge{id_of(left), id_of(right), id_of(left + right)};
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(merge.left)) << 32) |
                         static_cast<uint32_t>(merge.right);
    if (!seen.insert(key).second) {
      f.fail(field, str(json(left).dump(), " + ", json(right).dump(),
                        " is listed twice; a pair must have one rank"));
    }
    out->push_back(merge);
  }
}

void read_unk(const JsonFields& f, const json& model,
              const std::unordered_map<std::string, int32_t>& vocab, std::optional<int32_t>* out) {
  auto it = model.find("unk_token");
  if (it == model.end() || it->is_null()) return;
  const std::string name = f.string(model, "unk_token", "model.unk_token");
  auto id = vocab.find(name);
  if (id == vocab.end()) f.fail("model.unk_token", json(name).dump() + " is not in model.vocab");
  *out = id->second;
}

void read_added_tokens(const JsonFields& f, const json& root,
                       const std::unordered_map<int32_t, std::string>& vocab_names,
                       std::vector<AddedTokenEntry>* out) {
  auto list = root.find("added_tokens");
  if (list == root.end() || list->is_null()) return;
  if (!list->is_array()) f.fail("added_tokens", str("expected a list, got ", list->type_name()));
  std::unordered_set<std::string> contents;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string field = str("added_tokens[", i, "]");
    const json& t = (*list)[i];
    if (!t.is_object()) f.fail(field, str("expected an object, got ", t.type_name()));
    AddedTokenEntry entry;
    entry.id = f.id(f.member(t, "id", field + ".id"), field + ".id");
    entry.content = f.string(t, "content", field + ".content");
    if (entry.content.empty()) f.fail(field + ".content", "is empty");
    entry.special = f.flag(t, "special", field + ".special", false);
    // tokenizers' default: special tokens are matched in the raw text, others after NFC.
    entry.normalized = f.flag(t, "normalized", field + ".normalized", !entry.special);
    for (const char* key : {"lstrip", "rstrip", "single_word"}) {
      if (f.flag(t, key, field + "." + key, false)) f.unsupported(field + "." + key, "true");
    }
    auto named = vocab_names.find(entry.id);
    if (named != vocab_names.end() &&
        byte_level::decode_token(named->second).value_or(named->second) != entry.content) {
      f.fail(field, str("id ", entry.id, " is ", json(entry.content).dump(), " here but ",
                        json(named->second).dump(), " in model.vocab"));
    }
    if (!contents.insert(entry.content).second) {
      f.fail(field, str(json(entry.content).dump(), " is added twice"));
    }
    out->push_back(entry);
  }
}

// Ids above this are a corrupt file, not a vocabulary (the largest real ones are ~260k); the
// decode table is dense, so one would otherwise cost gigabytes.
constexpr int64_t kMaxTokenId = 1 << 24;

// Decode table, name lookup, and the byte symbols BPE starts from.
void build_tables(const JsonFields& f, const std::unordered_map<std::string, int32_t>& vocab,
                  TokenizerJson* tj) {
  int64_t max_id = -1;
  for (const auto& [name, id] : vocab)
    max_id = std::max<int64_t>(max_id, id);
  for (const AddedTokenEntry& t : tj->added_tokens)
    max_id = std::max<int64_t>(max_id, t.id);
  if (max_id < 0) f.fail("model.vocab", "is empty");
  if (max_id >= kMaxTokenId) {
    f.fail("model.vocab", str("token id ", max_id, " is beyond ", kMaxTokenId - 1,
                              "; the file is not a plausible vocabulary"));
  }
  tj->vocab_size = max_id + 1;
  tj->id_bytes.assign(static_cast<std::size_t>(tj->vocab_size), std::string());
  tj->id_known.assign(static_cast<std::size_t>(tj->vocab_size), false);
  for (const auto& [name, id] : vocab) {
    // A name outside the byte alphabet decodes to its own text, as the ByteLevel decoder
    // does in tokenizers.
    std::optional<std::string> bytes = byte_level::decode_token(name);
    tj->id_bytes[static_cast<std::size_t>(id)] = bytes ? *bytes : name;
    tj->id_known[static_cast<std::size_t>(id)] = true;
    tj->ids_by_name.emplace(name, id);
    if (tj->bpe.ignore_merges && bytes) tj->bpe.whole_words.emplace(*bytes, id);
  }
  for (const AddedTokenEntry& t : tj->added_tokens) {
    tj->id_bytes[static_cast<std::size_t>(t.id)] = t.content;
    tj->id_known[static_cast<std::size_t>(t.id)] = true;
    tj->ids_by_name[t.content] = t.id;
  }
  int missing = 0;
  for (int b = 0; b < 256; ++b) {
    auto it = vocab.find(byte_level::byte_spellings()[static_cast<std::size_t>(b)]);
    tj->bpe.byte_ids[static_cast<std::size_t>(b)] = it == vocab.end() ? -1 : it->second;
    if (it == vocab.end()) ++missing;
  }
  if (missing > 0 && !tj->bpe.unk_id) {
    log::warn(tj->path, ": model.vocab lacks ", missing, " of the 256 byte symbols and has no ",
              "unk_token; text holding those bytes loses them when encoded (as in tokenizers)");
  }
}

}  // namespace

TokenizerJson read_tokenizer_json(const std::string& path) {
  const JsonFields f(path);
  json root;
  try {
    root = json::parse(read_input_file(path, "tokenizer"));
  } catch (const json::parse_error& e) {
    throw DataError(str(path, ": invalid JSON: ", e.what()));
  }
  if (!root.is_object()) f.fail("(top level)", str("expected an object, got ", root.type_name()));

  TokenizerJson tj;
  tj.path = path;
  tj.nfc = read_normalizer(f, root);
  check_pre_tokenizer(f, root);
  check_decoder(f, root);
  const json& model = f.object(root, "model", "model");
  check_model_options(f, model);
  tj.bpe.ignore_merges = f.flag(model, "ignore_merges", "model.ignore_merges", false);

  // The vocabulary: names are byte-level spellings ("Ġthe" is " the").
  const json& vocab = f.object(model, "vocab", "model.vocab");
  std::unordered_map<std::string, int32_t> vocab_ids;
  std::unordered_map<int32_t, std::string> names_by_id;
  vocab_ids.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const int32_t id = f.id(it.value(), "model.vocab[" + json(it.key()).dump() + "]");
    auto [prev, fresh] = names_by_id.emplace(id, it.key());
    if (!fresh) {
      f.fail("model.vocab", str("id ", id, " is given to both ", json(prev->second).dump(), " and ",
                                json(it.key()).dump()));
    }
    vocab_ids.emplace(it.key(), id);
  }
  read_merges(f, model, vocab_ids, &tj.bpe.merges);
  read_unk(f, model, vocab_ids, &tj.bpe.unk_id);
  read_added_tokens(f, root, names_by_id, &tj.added_tokens);
  build_tables(f, vocab_ids, &tj);
  return tj;
}

}  // namespace fusebox::data
