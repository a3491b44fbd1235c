#include "data/byte_tokenizer.h"

#include "util/strings.h"

namespace fusebox::data {

std::vector<int64_t> ByteTokenizer::encode(const std::string& text, bool add_bos,
                                           bool add_eos) const {
  std::vector<int64_t> ids;
  ids.reserve(text.size() + 2);
  if (add_bos) ids.push_back(kBosId);
  // Through unsigned char: plain char is signed on x86, and bytes >= 0x80 must map to
  // 128..255, not to negative ids.
  for (unsigned char c : text)
    ids.push_back(static_cast<int64_t>(c));
  if (add_eos) ids.push_back(kEosId);
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string text;
  text.reserve(ids.size());
  for (int64_t id : ids) {
    if (is_byte(id)) text.push_back(static_cast<char>(static_cast<unsigned char>(id)));
  }
  return text;
}

std::vector<SpecialToken> ByteTokenizer::special_tokens() const {
  return {{"<bos>", kBosId}, {"<eos>", kEosId}, {"<pad>", kPadId}};
}

std::string ByteTokenizer::describe() const {
  return str("byte-level (", kVocabSize, " ids)");
}

}  // namespace fusebox::data
