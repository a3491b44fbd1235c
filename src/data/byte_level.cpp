#include "data/byte_level.h"

#include <vector>

#include "data/unicode_text.h"

namespace fusebox::data::byte_level {
namespace {

bool stands_for_itself(unsigned b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<char32_t, 256> char_of{};
  std::array<std::string, 256> spelling;
  Tables() {
    char32_t next = 0x100;
    for (unsigned b = 0; b < 256; ++b) {
      char_of[b] = stands_for_itself(b) ? static_cast<char32_t>(b) : next++;
      unicode::append_utf8(char_of[b], &spelling[b]);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

char32_t char_of_byte(unsigned char byte) {
  return tables().char_of[byte];
}

std::optional<unsigned char> byte_of_char(char32_t c) {
  // The alphabet is U+0021..U+00FF (minus the 68 moved bytes) and U+0100..U+0143.
  if (c < 0x100) {
    if (stands_for_itself(c)) return static_cast<unsigned char>(c);
    return std::nullopt;
  }
  if (c >= 0x100 + 68) return std::nullopt;
  unsigned moved = 0;  // c is the (c - 0x100)-th byte that does not stand for itself
  for (unsigned b = 0; b < 256; ++b) {
    if (stands_for_itself(b)) continue;
    if (moved++ == c - 0x100) return static_cast<unsigned char>(b);
  }
  return std::nullopt;
}

std::optional<std::string> decode_token(std::string_view token) {
  if (unicode::find_invalid_utf8(token) != std::string_view::npos) return std::nullopt;
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  unicode::decode_utf8(token, &cps, &offsets);
  std::string bytes;
  bytes.reserve(cps.size());
  for (char32_t c : cps) {
    std::optional<unsigned char> b = byte_of_char(c);
    if (!b) return std::nullopt;
    bytes.push_back(static_cast<char>(*b));
  }
  return bytes;
}

const std::array<std::string, 256>& byte_spellings() {
  return tables().spelling;
}

}  // namespace fusebox::data::byte_level
