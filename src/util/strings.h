// Small std-only string helpers used across layers.
#pragma once

#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

namespace fusebox {

// Concatenates anything streamable: str("expected ", n, " got ", m).
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

std::string trim(const std::string& s);
std::vector<std::string> split(const std::string& s, char sep);
std::string join(const std::vector<std::string>& parts, const std::string& sep);
std::string to_lower(std::string s);

// Levenshtein distance; used to suggest the closest known key or id.
std::size_t edit_distance(const std::string& a, const std::string& b);
// The candidate closest to `word`, or "" when none is close enough to be a plausible typo.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// "1.5 GiB", "12.0 MiB": human-readable byte counts for logs.
std::string format_bytes(double bytes);
// "1h02m03s", "4m05s", "12.3s".
std::string format_duration(double seconds);

}  // namespace fusebox
