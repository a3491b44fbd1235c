// The Unicode a byte-level BPE tokenizer needs: UTF-8 decoding with validation, NFC, and the
// character classes of the pre-tokenizer regex (\p{L}, \p{N}, \s). Classes and NFC come from
// ICU, whose tables follow the Unicode version Debian ships (ICU 72 = Unicode 15.0); the
// reference, Hugging Face tokenizers with Oniguruma, is on Unicode 15 as well.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fusebox::data::unicode {

// Byte offset of the first byte that does not begin a well-formed UTF-8 sequence (a stray
// continuation byte, a truncated sequence, an overlong form, a surrogate, > U+10FFFF), or
// std::string_view::npos when all of `text` is well-formed.
std::size_t find_invalid_utf8(std::string_view text);

// Decodes well-formed UTF-8 (check with find_invalid_utf8 first; anything else is undefined
// here) into code points and the byte offset where each starts. `offsets` gets one more entry,
// text.size(), so that code point i spans bytes [offsets[i], offsets[i + 1]).
void decode_utf8(std::string_view text, std::vector<char32_t>* code_points,
                 std::vector<uint32_t>* offsets);

void append_utf8(char32_t code_point, std::string* out);

// Unicode Normalization Form C of well-formed UTF-8 text. ASCII text is returned as is
// without calling ICU (it is always in NFC).
std::string to_nfc(std::string_view text);

// \p{L}: general category Lu, Ll, Lt, Lm or Lo.
bool is_letter(char32_t c);
// \p{N}: general category Nd, Nl or No.
bool is_number(char32_t c);
// \s as Oniguruma reads it for UTF-8: the White_Space property (tab..CR, space, U+0085,
// U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000). Not U+200B.
bool is_white_space(char32_t c);

}  // namespace fusebox::data::unicode
