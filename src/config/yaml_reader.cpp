#include "config/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::config {
namespace {

// Long scalars (a pasted paragraph) would drown the message; the start is enough to spot it.
constexpr std::size_t kMaxQuotedChars = 60;

bool looks_like_integer(const std::string& text) {
  std::size_t i = (!text.empty() && (text[0] == '+' || text[0] == '-')) ? 1 : 0;
  return i < text.size() &&
         std::all_of(text.begin() + i, text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// std::from_chars does not take a leading '+', which YAML and people both write.
const char* skip_plus(const std::string& text) {
  const char* b = text.data();
  if (text.size() > 1 && text[0] == '+' && text[1] != '-' && text[1] != '+') ++b;
  return b;
}

}  // namespace

YAML::Node load_yaml_document(const std::string& text, const ConfigSource& source) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    std::string where = source.source_name();
    if (e.mark.line >= 0) where += str(":", e.mark.line + 1, ":", e.mark.column + 1);
    throw ConfigError(str(where, ": YAML syntax error: ", e.msg));
  }
  if (docs.size() > 1) {
    source.fail_at("", docs[1].Mark(),
                   str("expected one YAML document, got ", docs.size(),
                       " (a config is a single mapping; remove the '---' separators)"));
  }
  if (docs.empty() || docs[0].IsNull()) return YAML::Node(YAML::NodeType::Map);
  if (!docs[0].IsMap()) {
    source.fail_at("", docs[0].Mark(),
                   str("expected a mapping of config keys at the top level (model: ..., "
                       "train_dataset: ...), got ",
                       describe_node(docs[0])));
  }
  return docs[0];
}

void check_unique_keys(const YAML::Node& node, const std::string& key_path,
                       const ConfigSource& source) {
  if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      check_unique_keys(node[i], str(key_path, "[", i, "]"), source);
    }
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, int> first_line;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) continue;  // MappingReader rejects non-string keys
    const std::string& key = it->first.Scalar();
    std::string path = join_key_path(key_path, key);
    auto [pos, inserted] = first_line.emplace(key, it->first.Mark().line);
    if (!inserted) {
      source.fail_at("", it->first.Mark(),
                     str("duplicate key '", path, "' (first given at line ", pos->second + 1,
                         "); keep only one"));
    }
    check_unique_keys(it->second, path, source);
  }
}

bool parse_int64(const std::string& text, int64_t* out) {
  if (!looks_like_integer(text)) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(skip_plus(text), end, *out);
  return ec == std::errc() && ptr == end;
}

bool parse_double(const std::string& text, double* out) {
  // YAML's spellings of the non-finite values, so that the caller can say "finite" rather
  // than "a number" when someone writes .inf.
  std::string lower = to_lower(text);
  if (lower == ".inf" || lower == "+.inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (lower == "-.inf") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (lower == ".nan") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(skip_plus(text), end, *out, std::chars_format::general);
  return ec == std::errc() && ptr == end;
}

bool parse_bool(const std::string& text, bool* out) {
  std::string lower = to_lower(text);
  if (lower == "true" || lower == "false") {
    *out = lower == "true";
    return true;
  }
  return false;
}

std::string describe_node(const YAML::Node& node) {
  if (!node.IsDefined()) return "nothing";
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (s.size() <= kMaxQuotedChars) return str("'", s, "'");
      return str("'", s.substr(0, kMaxQuotedChars), "...'");
    }
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

Field::Field(bool present, YAML::Node value, std::string key_path, YAML::Mark key_mark,
             const ConfigSource* source)
    : present_(present),
      value_(std::move(value)),
      key_path_(std::move(key_path)),
      key_mark_(key_mark),
      source_(source) {}

YAML::Mark Field::mark() const {
  // yaml-cpp gives a null value the position of the token after it (often the next key's
  // line), so the key's own line is the honest answer there.
  if (present_ && !value_.IsNull() && value_.Mark().line >= 0) return value_.Mark();
  return key_mark_;
}

int64_t Field::as_int() const {
  int64_t v = 0;
  if (value_.IsScalar() && parse_int64(value_.Scalar(), &v)) return v;
  if (value_.IsScalar() && looks_like_integer(value_.Scalar())) {
    fail(str("expected a 64-bit integer, got ", describe_node(value_), " (out of range)"));
  }
  fail(str("expected an integer, got ", describe_node(value_)));
}

double Field::as_double() const {
  double v = 0;
  if (!value_.IsScalar() || !parse_double(value_.Scalar(), &v)) {
    fail(str("expected a number, got ", describe_node(value_)));
  }
  if (!std::isfinite(v)) fail(str("expected a finite number, got ", describe_node(value_)));
  return v;
}

bool Field::as_bool() const {
  bool v = false;
  if (value_.IsScalar() && parse_bool(value_.Scalar(), &v)) return v;
  fail(str("expected true or false, got ", describe_node(value_)));
}

std::string Field::as_string() const {
  if (value_.IsNull()) return "";
  if (!value_.IsScalar()) fail(str("expected a string, got ", describe_node(value_)));
  return value_.Scalar();
}

void Field::fail(const std::string& message) const {
  source_->fail(key_path_, mark(), message);
}

MappingReader::MappingReader(const YAML::Node& node, std::string key_path, YAML::Mark mark,
                             KeySet keys, const ConfigSource& source)
    : key_path_(std::move(key_path)), keys_(std::move(keys)), source_(&source), mark_(mark) {
  read_entries(node);
}

MappingReader::MappingReader(const Field& field, KeySet keys, const ConfigSource& source)
    : key_path_(field.path()), keys_(std::move(keys)), source_(&source), mark_(field.mark()) {
  if (field) read_entries(field.node());
}

void MappingReader::read_entries(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) {
    source_->fail(key_path_, mark_,
                  str("expected a mapping with keys ", join(keys_.known, ", "), "; got ",
                      describe_node(node)));
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) {
      source_->fail(key_path_, it->first.Mark(),
                    str("expected a key name, got ", describe_node(it->first)));
    }
    const std::string& key = it->first.Scalar();
    if (std::find(keys_.known.begin(), keys_.known.end(), key) == keys_.known.end()) {
      fail_unknown(key, it->first.Mark());
    }
    entries_.push_back({key, it->first.Mark(), it->second});
  }
}

void MappingReader::fail_unknown(const std::string& key, const YAML::Mark& mark) const {
  std::string path = join_key_path(key_path_, key);
  std::string suggestion;
  for (const auto& [slip, meant] : keys_.hints) {
    if (slip == key) suggestion = meant;
  }
  if (suggestion.empty()) {
    std::string near = closest_match(key, keys_.known);
    if (!near.empty()) suggestion = join_key_path(key_path_, near);
  }
  std::string message = str("unknown key '", path, "'");
  message += suggestion.empty() ? "." : str("; did you mean '", suggestion, "'?");
  message +=
      key_path_.empty() ? " Known top-level keys: " : str(" Known keys in ", key_path_, ": ");
  message += join(keys_.known, ", ");
  source_->fail_at(path, mark, message);
}

Field MappingReader::field(const std::string& key) const {
  // Asking for a key the schema does not list is a bug in the schema code, not in the file.
  if (std::find(keys_.known.begin(), keys_.known.end(), key) == keys_.known.end()) {
    throw std::logic_error(str("MappingReader::field: '", key, "' is not a known key"));
  }
  std::string path = join_key_path(key_path_, key);
  for (const Entry& e : entries_) {
    if (e.key == key) return Field(true, e.value, path, e.key_mark, source_);
  }
  return Field(false, YAML::Node(), path, mark_, source_);
}

}  // namespace fusebox::config
