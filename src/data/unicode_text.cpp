#include "data/unicode_text.h"

#include <cstdint>

#if FUSEBOX_HAVE_ICU
#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#endif

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::data::unicode {
namespace {

// Class bits for ASCII, so the common case needs no ICU call.
constexpr uint8_t kLetter = 1, kNumber = 2, kSpace = 4;

struct AsciiClasses {
  uint8_t bits[128] = {};
  constexpr AsciiClasses() {
    for (int c = 'a'; c <= 'z'; ++c)
      bits[c] = kLetter;
    for (int c = 'A'; c <= 'Z'; ++c)
      bits[c] = kLetter;
    for (int c = '0'; c <= '9'; ++c)
      bits[c] = kNumber;
    for (int c = '\t'; c <= '\r'; ++c)
      bits[c] = kSpace;
    bits[' '] = kSpace;
  }
};
constexpr AsciiClasses kAscii;

#if !FUSEBOX_HAVE_ICU
// A build without ICU's headers (e.g. a GPU machine with no package registry) handles ASCII
// text exactly and refuses the rest: guessing Unicode classes would give silently wrong ids.
[[noreturn]] void throw_no_icu(const char* what) {
  throw DataError(str(what, " of non-ASCII text needs ICU, and this fusebox build has none ",
                      "(install libicu-dev and reconfigure); ASCII text works without it"));
}
#endif

// Expected sequence length for a lead byte, 0 for bytes that cannot start a sequence
// (continuation bytes 80..BF, C0/C1 which only start overlong forms, F5..FF beyond U+10FFFF).
int sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

bool is_continuation(unsigned char b) {
  return (b & 0xC0) == 0x80;
}

}  // namespace

std::size_t find_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char lead = s[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    const int len = sequence_length(lead);
    if (len == 0 || i + static_cast<std::size_t>(len) > n) return i;
    for (int k = 1; k < len; ++k) {
      if (!is_continuation(s[i + static_cast<std::size_t>(k)])) return i;
    }
    // The second byte's range rules out what the lead byte alone cannot: overlong 3- and
    // 4-byte forms, surrogates (ED A0..BF) and code points above U+10FFFF (F4 90..).
    const unsigned char second = s[i + 1];
    if ((lead == 0xE0 && second < 0xA0) || (lead == 0xED && second > 0x9F) ||
        (lead == 0xF0 && second < 0x90) || (lead == 0xF4 && second > 0x8F)) {
      return i;
    }
    i += static_cast<std::size_t>(len);
  }
  return std::string_view::npos;
}

void decode_utf8(std::string_view text, std::vector<char32_t>* code_points,
                 std::vector<uint32_t>* offsets) {
  code_points->clear();
  offsets->clear();
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    offsets->push_back(static_cast<uint32_t>(i));
    const unsigned char lead = s[i];
    const int len = sequence_length(lead);
    char32_t cp = len == 1   ? lead
                  : len == 2 ? lead & 0x1Fu
                  : len == 3 ? lead & 0x0Fu
                             : lead & 0x07u;
    for (int k = 1; k < len; ++k)
      cp = (cp << 6) | (s[i + static_cast<std::size_t>(k)] & 0x3Fu);
    code_points->push_back(cp);
    i += static_cast<std::size_t>(len < 1 ? 1 : len);
  }
  offsets->push_back(static_cast<uint32_t>(n));
}

void append_utf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string to_nfc(std::string_view text) {
  bool ascii = true;
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return std::string(text);
#if !FUSEBOX_HAVE_ICU
  throw_no_icu("NFC normalisation");
#else
  if (text.size() > static_cast<std::size_t>(INT32_MAX)) {
    throw DataError(str("a text of ", text.size(), " bytes is too long to normalise (ICU takes ",
                        "at most 2 GiB at once); split it into smaller documents"));
  }
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  std::string out;
  if (U_SUCCESS(status)) {
    out.reserve(text.size());
    icu::StringByteSink<std::string> sink(&out);
    nfc->normalizeUTF8(0, icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), sink,
                       nullptr, status);
  }
  // Only a broken ICU installation (missing data library) gets here.
  if (U_FAILURE(status)) throw DataError(str("NFC normalisation failed: ", u_errorName(status)));
  return out;
#endif
}

bool is_letter(char32_t c) {
  if (c < 128) return kAscii.bits[c] & kLetter;
#if FUSEBOX_HAVE_ICU
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_L_MASK) != 0;
#else
  throw_no_icu("Unicode letter classes");
#endif
}

bool is_number(char32_t c) {
  if (c < 128) return kAscii.bits[c] & kNumber;
#if FUSEBOX_HAVE_ICU
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_N_MASK) != 0;
#else
  throw_no_icu("Unicode number classes");
#endif
}

bool is_white_space(char32_t c) {
  if (c < 128) return kAscii.bits[c] & kSpace;
#if FUSEBOX_HAVE_ICU
  return u_isUWhiteSpace(static_cast<UChar32>(c)) != 0;
#else
  throw_no_icu("Unicode white space");
#endif
}

}  // namespace fusebox::data::unicode
