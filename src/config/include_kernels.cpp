#include "config/include_kernels.h"

#include <algorithm>
#include <cctype>

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::config {
namespace {

constexpr const char* kAccepted =
    "null, false, true, auto, or kernel ids separated by commas (cpu_fused_rmsnorm,"
    "cpu_fused_swiglu)";

bool has_space(const std::string& s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

// Checks and joins ids that are already split; `original` is quoted in messages.
std::string join_ids(const std::vector<std::string>& raw_ids, const std::string& original,
                     std::string* normalised) {
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < raw_ids.size(); ++i) {
    std::string id = trim(raw_ids[i]);
    if (id.empty()) {
      return str("expected ", kAccepted, "; got '", original, "' with an empty entry at position ",
                 i + 1);
    }
    // "a b" is almost always a forgotten comma; saying so beats "unknown kernel 'a b'".
    if (has_space(id)) {
      std::string detail = id == original ? "" : str(" ('", id, "' holds a space)");
      return str("expected kernel ids separated by commas, got '", original, "'", detail);
    }
    ids.push_back(id);
  }
  *normalised = join(ids, ",");
  return "";
}

}  // namespace

std::string normalize_include_kernels(const std::string& text, std::string* normalised) {
  std::string t = trim(text);
  std::string lower = to_lower(t);
  if (t.empty() || lower == "false" || lower == "null" || lower == "~") {
    *normalised = "false";
    return "";
  }
  if (lower == "true" || lower == "auto") {
    *normalised = lower;
    return "";
  }
  return join_ids(split(t, ','), t, normalised);
}

std::string normalize_include_kernels(const std::vector<std::string>& ids,
                                      std::string* normalised) {
  if (ids.empty()) {
    *normalised = "false";
    return "";
  }
  // A single-element list may still be one of the words ([auto]) or a comma list; the text
  // form handles both. Longer lists are ids only.
  if (ids.size() == 1) return normalize_include_kernels(ids[0], normalised);
  return join_ids(ids, join(ids, ", "), normalised);
}

std::string normalize_include_kernels(const std::string& text) {
  std::string normalised;
  std::string problem = normalize_include_kernels(text, &normalised);
  if (!problem.empty()) throw ConfigError(str("include_kernels: ", problem));
  return normalised;
}

}  // namespace fusebox::config
