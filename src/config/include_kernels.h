// Normalisation of kernel_config.include_kernels, the one key with several spellings:
//   omitted, null, ~, false, ""   -> "false"  (reference forwards only)
//   true                          -> "true"   (every default kernel)
//   auto                          -> "auto"   (the kernels that suit the detected device)
//   "id1, id2" or [id1, id2]      -> "id1,id2"
// The words are matched case-insensitively ("True", "AUTO"). Ids are not checked here: the
// kernel registry owns the list and gives the better message. std-only, usable by the CLI for
// an --include-kernels flag.
#pragma once

#include <string>
#include <vector>

namespace fusebox::config {

// Sets *normalised and returns "" when `text` is a valid include_kernels value; otherwise
// returns what was expected ("expected kernel ids separated by commas, got ...").
std::string normalize_include_kernels(const std::string& text, std::string* normalised);

// The same for a list of ids (a YAML sequence); an empty list is "false".
std::string normalize_include_kernels(const std::vector<std::string>& ids, std::string* normalised);

// Throwing form: fusebox::ConfigError "include_kernels: <what was expected>".
std::string normalize_include_kernels(const std::string& text);

}  // namespace fusebox::config
