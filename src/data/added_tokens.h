// Added tokens (<|endoftext|>, <|im_start|>, ...) are split out of the text before anything
// else sees it, so that BPE never cuts one apart. Matching is leftmost-longest, as Hugging Face
// tokenizers does it: of the tokens that start at the first position where any starts, the
// longest wins (with "<|im" and "<|im_start|>" both added, "<|im_start|>" is one token).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fusebox::data {

class AddedTokenMatcher {
 public:
  // A run of text between matches (id == kText) or one matched token.
  struct Segment {
    static constexpr int32_t kText = -1;
    std::string_view text;
    int32_t id = kText;
  };

  AddedTokenMatcher() = default;
  // (content, id) pairs; contents must be non-empty and distinct (the loader checks).
  explicit AddedTokenMatcher(const std::vector<std::pair<std::string, int32_t>>& tokens);

  bool empty() const { return count_ == 0; }

  // Cuts `text` into segments in order (cleared first); text segments are never empty. The
  // views point into `text`.
  void split(std::string_view text, std::vector<Segment>* segments) const;

 private:
  // Tokens grouped by first byte, longest first, so the first hit at a position is the
  // longest there.
  std::array<std::vector<std::pair<std::string, int32_t>>, 256> by_first_byte_;
  std::size_t count_ = 0;
};

}  // namespace fusebox::data
