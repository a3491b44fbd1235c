// Qwen's pre-tokenizer: splits normalised text into the pieces BPE then works on, one by one.
// It is the Split pre-tokenizer of Qwen2/Qwen3's tokenizer.json with this regex (behavior
// Isolated: every match is a piece),
//
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*
//   |\s*[\r\n]+|\s+(?!\S)|\s+
//
// hand-coded as a scanner: std::regex has neither \p{..} nor Unicode-aware classes. It keeps
// the semantics of the backtracking engine Hugging Face tokenizers runs it on (Oniguruma): at
// each position the first alternative that matches wins (not the longest), quantifiers are
// greedy and give back one character at a time. Every character is a letter, a number,
// white space or "other", and some alternative matches each class, so the pieces cover the
// whole text with no gaps.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace fusebox::data {

// The pattern as it appears in tokenizer.json; the loader accepts only this one.
extern const std::string_view kQwenPretokenizerPattern;

// [begin, end) in code points.
struct Piece {
  std::size_t begin = 0;
  std::size_t end = 0;
};

// Splits `text` (code points) into pieces; appends to `pieces` (cleared first).
void qwen_pretokenize(const std::vector<char32_t>& text, std::vector<Piece>* pieces);

}  // namespace fusebox::data
