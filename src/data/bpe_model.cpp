#include "data/bpe_model.h"

#include <queue>
#include <utility>

namespace fusebox::data {

BpeModel::BpeModel(BpeModelSpec spec) : spec_(std::move(spec)) {
  merges_.reserve(spec_.merges.size());
  for (std::size_t rank = 0; rank < spec_.merges.size(); ++rank) {
    const BpeMerge& m = spec_.merges[rank];
    // The loader rejects a pair listed twice, so every pair has one rank.
    merges_.emplace(pair_key(m.left, m.right), RankedMerge{static_cast<int32_t>(rank), m.result});
  }
}

const BpeModel::RankedMerge* BpeModel::find_merge(int32_t left, int32_t right) const {
  auto it = merges_.find(pair_key(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>* ids) const {
  // A doubly linked list of symbols over the bytes; a merge folds the right symbol into the
  // left one, so a position keeps naming the same symbol for the whole word.
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (unsigned char b : word) {
    int32_t id = spec_.byte_ids[b];
    if (id < 0) {
      if (!spec_.unk_id) continue;
      id = *spec_.unk_id;
    }
    const auto pos = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, pos - 1, pos + 1, true});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Candidate {
    int32_t rank;
    int32_t pos;     // the left symbol of the pair
    int32_t result;  // what the pair merged into when queued, to spot a stale entry
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_pair = [&](int32_t left_pos) {
    const Symbol& left = symbols[static_cast<std::size_t>(left_pos)];
    if (left.next < 0) return;
    if (const RankedMerge* m = find_merge(left.id, symbols[static_cast<std::size_t>(left.next)].id))
      queue.push({m->rank, left_pos, m->result});
  };
  for (int32_t pos = 0; pos + 1 < static_cast<int32_t>(symbols.size()); ++pos)
    push_pair(pos);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<std::size_t>(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[static_cast<std::size_t>(left.next)];
    // Either side may have changed since the entry was queued; it is only still valid when
    // the pair there now merges into the same token.
    const RankedMerge* current = find_merge(left.id, right.id);
    if (current == nullptr || current->result != top.result) continue;
    left.id = top.result;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }
  for (const Symbol& s : symbols) {
    if (s.alive) ids->push_back(s.id);
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<int64_t>* out) const {
  if (spec_.ignore_merges) {
    auto it = spec_.whole_words.find(std::string(word));
    if (it != spec_.whole_words.end()) {
      out->push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  std::string key;
  if (cacheable) {
    key.assign(word.data(), word.size());
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  merge_word(word, &ids);
  out->insert(out->end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kMaxCachedWords) cache_.clear();
    cache_.emplace(std::move(key), std::move(ids));
  }
}

}  // namespace fusebox::data
