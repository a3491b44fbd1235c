// GPT-2's byte-to-unicode mapping, the alphabet of byte-level BPE. Every byte gets a printable
// character so that a vocabulary of byte sequences can be stored as JSON strings: the bytes
// '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves, and the 68 others (controls,
// space, DEL, 0x80..0xA0, the soft hyphen 0xAD) take U+0100, U+0101, ... in byte order, so a
// space is 'Ġ' (U+0120) and a newline 'Ċ' (U+010A).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace fusebox::data::byte_level {

// The character standing for `byte`.
char32_t char_of_byte(unsigned char byte);

// The byte a character stands for; nullopt for characters outside the 256 of the alphabet.
std::optional<unsigned char> byte_of_char(char32_t c);

// A vocabulary entry (UTF-8 text over the alphabet) back to the bytes it stands for; nullopt
// when it holds a character outside the alphabet.
std::optional<std::string> decode_token(std::string_view token);

// The UTF-8 spelling of each byte's character, for looking bytes up in a vocabulary.
const std::array<std::string, 256>& byte_spellings();

}  // namespace fusebox::data::byte_level
