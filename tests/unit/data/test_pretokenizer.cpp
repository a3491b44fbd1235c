// Qwen's pre-tokenizer regex as a scanner, the Unicode helpers under it, and GPT-2's byte
// alphabet. The expected pieces are what Python's `regex` module (a backtracking engine with
// Oniguruma's semantics for this pattern) gives for the same pattern and text.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/byte_level.h"
#include "data/qwen_pretokenizer.h"
#include "data/unicode_text.h"

namespace fusebox::data {
namespace {

using Pieces = std::vector<std::string>;

Pieces pieces_of(const std::string& text) {
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  std::vector<Piece> pieces;
  unicode::decode_utf8(text, &cps, &offsets);
  qwen_pretokenize(cps, &pieces);
  Pieces out;
  for (const Piece& p : pieces)
    out.push_back(text.substr(offsets[p.begin], offsets[p.end] - offsets[p.begin]));
  return out;
}

TEST(QwenPretokenizer, SpacesLeaveTheirLastOneToTheNextWord) {
  // \s+(?!\S) gives back one space; " world" then starts with it.
  EXPECT_EQ(pieces_of("Hello  world"), (Pieces{"Hello", " ", " world"}));
  EXPECT_EQ(pieces_of("a   b"), (Pieces{"a", "  ", " b"}));
  EXPECT_EQ(pieces_of("end   "), (Pieces{"end", "   "}));  // at the end nothing is given back
  EXPECT_EQ(pieces_of("\thello"), (Pieces{"\thello"}));    // any non-letter may lead a word
  EXPECT_EQ(pieces_of("\u3000\u3000x"), (Pieces{"\u3000", "\u3000x"}));
  EXPECT_EQ(pieces_of("a\u00a0\u00a0b"), (Pieces{"a", "\u00a0", "\u00a0b"}));
}

TEST(QwenPretokenizer, ContractionsAreCaseInsensitive) {
  EXPECT_EQ(pieces_of("it's I'M WE'LL THEY'RE 'x \u017f'\u017f"),
            (Pieces{"it", "'s", " I", "'M", " WE", "'LL", " THEY", "'RE", " '", "x", " \u017f",
                    "'\u017f"}));
}

TEST(QwenPretokenizer, NumbersAreSingleDigits) {
  EXPECT_EQ(pieces_of("12 345"), (Pieces{"1", "2", " ", "3", "4", "5"}));
  EXPECT_EQ(pieces_of(" 5"), (Pieces{" ", "5"}));
  // Nd, Nl and No are all \p{N}.
  EXPECT_EQ(pieces_of("\u0663\u216b\u00bd"), (Pieces{"\u0663", "\u216b", "\u00bd"}));
}

TEST(QwenPretokenizer, NewlinesAndPunctuation) {
  EXPECT_EQ(pieces_of("x\n\n  y"), (Pieces{"x", "\n\n", " ", " y"}));
  // \s*[\r\n]+ ends at the run's last newline.
  EXPECT_EQ(pieces_of("x  \n \ty"), (Pieces{"x", "  \n", " ", "\ty"}));
  EXPECT_EQ(pieces_of("hi!!!\n\nthere"), (Pieces{"hi", "!!!\n\n", "there"}));
  EXPECT_EQ(pieces_of(" ?? a"), (Pieces{" ??", " a"}));
  EXPECT_EQ(pieces_of("...\r\n"), (Pieces{"...\r\n"}));
  // A combining mark is neither a letter nor a number: it is punctuation-like "other".
  EXPECT_EQ(pieces_of("e\u0301"), (Pieces{"e", "\u0301"}));
}

TEST(QwenPretokenizer, PiecesCoverTheTextWithoutGaps) {
  const std::string text = "Mixed: 42 caf\u00e9\u2028\r\n  \u4e2d\u6587 \U0001F600!? it'd\t";
  std::string joined;
  for (const std::string& p : pieces_of(text)) {
    EXPECT_FALSE(p.empty());
    joined += p;
  }
  EXPECT_EQ(joined, text);
  EXPECT_TRUE(pieces_of("").empty());
}

TEST(Unicode, FindInvalidUtf8) {
  const auto npos = std::string_view::npos;
  EXPECT_EQ(unicode::find_invalid_utf8("plain \xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80"), npos);
  EXPECT_EQ(unicode::find_invalid_utf8("ab\x80"), 2u);              // stray continuation
  EXPECT_EQ(unicode::find_invalid_utf8("a\xC3"), 1u);               // truncated
  EXPECT_EQ(unicode::find_invalid_utf8("\xC0\xAF"), 0u);            // overlong '/'
  EXPECT_EQ(unicode::find_invalid_utf8("\xE0\x80\xAF"), 0u);        // overlong, 3 bytes
  EXPECT_EQ(unicode::find_invalid_utf8("x\xED\xA0\x80"), 1u);       // surrogate U+D800
  EXPECT_EQ(unicode::find_invalid_utf8("\xF4\x90\x80\x80"), 0u);    // above U+10FFFF
  EXPECT_EQ(unicode::find_invalid_utf8("\xF4\x8F\xBF\xBF"), npos);  // U+10FFFF itself
}

TEST(Unicode, DecodeAndAppendRoundTrip) {
  const std::string text = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  unicode::decode_utf8(text, &cps, &offsets);
  EXPECT_EQ(cps, (std::vector<char32_t>{U'a', 0xE9, 0x4E2D, 0x1F600}));
  EXPECT_EQ(offsets, (std::vector<uint32_t>{0, 1, 3, 6, 10}));
  std::string back;
  for (char32_t c : cps)
    unicode::append_utf8(c, &back);
  EXPECT_EQ(back, text);
}

TEST(Unicode, NfcComposesButDoesNotFoldCompatibilityForms) {
  EXPECT_EQ(unicode::to_nfc("e\xCC\x81"), "\xC3\xA9");         // e + U+0301 -> é
  EXPECT_EQ(unicode::to_nfc("A\xCC\x8A"), "\xC3\x85");         // A + ring -> Å
  EXPECT_EQ(unicode::to_nfc("\xEF\xAC\x81"), "\xEF\xAC\x81");  // U+FB01 'fi' stays (NFKC would not)
  EXPECT_EQ(unicode::to_nfc("plain ascii"), "plain ascii");
}

TEST(Unicode, CharacterClasses) {
  EXPECT_TRUE(unicode::is_letter(U'a'));
  EXPECT_TRUE(unicode::is_letter(0x4E2D));   // CJK, Lo
  EXPECT_TRUE(unicode::is_letter(0x02B0));   // modifier letter, Lm
  EXPECT_FALSE(unicode::is_letter(0x0301));  // combining mark, Mn
  EXPECT_TRUE(unicode::is_number(0x0663));   // Arabic-Indic three, Nd
  EXPECT_TRUE(unicode::is_number(0x00BD));   // one half, No
  EXPECT_FALSE(unicode::is_number(U'x'));
  for (char32_t c : {0x09, 0x0B, 0x20, 0x85, 0xA0, 0x1680, 0x2009, 0x2028, 0x3000})
    EXPECT_TRUE(unicode::is_white_space(c)) << std::hex << static_cast<uint32_t>(c);
  for (char32_t c : {0x1C, 0x200B, 0xFEFF, 0x180E})  // not White_Space
    EXPECT_FALSE(unicode::is_white_space(c)) << std::hex << static_cast<uint32_t>(c);
}

TEST(ByteLevel, Gpt2Alphabet) {
  EXPECT_EQ(byte_level::char_of_byte(' '), 0x120u);   // 'Ġ'
  EXPECT_EQ(byte_level::char_of_byte('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(byte_level::char_of_byte('A'), static_cast<char32_t>('A'));
  EXPECT_EQ(byte_level::char_of_byte(0xE9), 0xE9u);   // stands for itself
  EXPECT_EQ(byte_level::char_of_byte(0xAD), 0x143u);  // the last of the 68 moved bytes
  for (int b = 0; b < 256; ++b) {
    const char32_t c = byte_level::char_of_byte(static_cast<unsigned char>(b));
    ASSERT_EQ(byte_level::byte_of_char(c), static_cast<unsigned char>(b)) << b;
  }
  EXPECT_FALSE(byte_level::byte_of_char(0x144).has_value());
  EXPECT_FALSE(byte_level::byte_of_char(0x20).has_value());  // a space is spelled 'Ġ'
  EXPECT_EQ(byte_level::decode_token("\xC4\xA0the"), " the");
  EXPECT_FALSE(byte_level::decode_token("\xE4\xB8\xAD").has_value());  // not in the alphabet
}

}  // namespace
}  // namespace fusebox::data
