#include "data/added_tokens.h"

#include <algorithm>

namespace fusebox::data {

AddedTokenMatcher::AddedTokenMatcher(const std::vector<std::pair<std::string, int32_t>>& tokens) {
  for (const auto& token : tokens) {
    if (token.first.empty()) continue;
    by_first_byte_[static_cast<unsigned char>(token.first[0])].push_back(token);
    ++count_;
  }
  for (auto& bucket : by_first_byte_) {
    std::stable_sort(bucket.begin(), bucket.end(),
                     [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  }
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Segment>* segments) const {
  segments->clear();
  std::size_t text_start = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto& bucket = by_first_byte_[static_cast<unsigned char>(text[i])];
    const std::pair<std::string, int32_t>* hit = nullptr;
    for (const auto& token : bucket) {
      if (text.compare(i, token.first.size(), token.first) == 0) {
        hit = &token;
        break;
      }
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    if (i > text_start) segments->push_back({text.substr(text_start, i - text_start)});
    segments->push_back({text.substr(i, hit->first.size()), hit->second});
    i += hit->first.size();
    text_start = i;
  }
  if (text.size() > text_start) segments->push_back({text.substr(text_start)});
}

}  // namespace fusebox::data
