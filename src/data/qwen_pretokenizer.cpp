#include "data/qwen_pretokenizer.h"

#include "data/unicode_text.h"

namespace fusebox::data {

const std::string_view kQwenPretokenizerPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

namespace {

using unicode::is_letter;
using unicode::is_number;
using unicode::is_white_space;

// Each alternative below returns the end of its match at `i`, or 0 when it does not match
// there (every match is non-empty, so 0 is never a real end).
class Scanner {
 public:
  explicit Scanner(const std::vector<char32_t>& t) : t_(t), n_(t.size()) {}

  std::size_t match(std::size_t i) const {
    if (std::size_t e = contraction(i)) return e;
    if (std::size_t e = letters(i)) return e;
    if (is_number(t_[i])) return i + 1;  // \p{N}: digits one at a time
    if (std::size_t e = symbols(i)) return e;
    if (std::size_t e = newline_run(i)) return e;
    if (std::size_t e = spaces_not_before_word(i)) return e;
    return space_run_end(i);  // \s+; only white space is left by now
  }

 private:
  static bool is_newline(char32_t c) { return c == '\r' || c == '\n'; }
  // [^\s\p{L}\p{N}]: punctuation, symbols, controls that are not white space.
  static bool is_other(char32_t c) { return !is_white_space(c) && !is_letter(c) && !is_number(c); }
  // Case-insensitive match under Unicode simple case folding, as (?i) does in Oniguruma: the
  // only non-ASCII character that folds to one of s, t, r, e, v, m, l, d is U+017F (long s).
  static bool folds_to(char32_t c, char lower) {
    if (c == static_cast<char32_t>(lower) || c == static_cast<char32_t>(lower - 'a' + 'A')) {
      return true;
    }
    return lower == 's' && c == 0x017F;
  }

  bool at(std::size_t i, char lower) const { return i < n_ && folds_to(t_[i], lower); }

  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  std::size_t contraction(std::size_t i) const {
    if (t_[i] != '\'') return 0;
    if (at(i + 1, 's') || at(i + 1, 't') || at(i + 1, 'm') || at(i + 1, 'd')) return i + 2;
    if ((at(i + 1, 'r') || at(i + 1, 'v')) && at(i + 2, 'e')) return i + 3;
    if (at(i + 1, 'l') && at(i + 2, 'l')) return i + 3;
    return 0;
  }

  std::size_t letter_run_end(std::size_t i) const {
    while (i < n_ && is_letter(t_[i]))
      ++i;
    return i;
  }

  // [^\r\n\p{L}\p{N}]?\p{L}+ : the optional lead is tried first; if no letter follows it, the
  // engine retries without it, which needs t[i] itself to be a letter.
  std::size_t letters(std::size_t i) const {
    const char32_t c = t_[i];
    if (!is_newline(c) && !is_letter(c) && !is_number(c)) {
      return i + 1 < n_ && is_letter(t_[i + 1]) ? letter_run_end(i + 1) : 0;
    }
    return is_letter(c) ? letter_run_end(i) : 0;
  }

  //  ?[^\s\p{L}\p{N}]+[\r\n]* : without the space the class cannot start at a space, so the
  // optional space only matters when an "other" character follows it.
  std::size_t symbols(std::size_t i) const {
    std::size_t j = i;
    if (t_[j] == ' ' && j + 1 < n_ && is_other(t_[j + 1])) ++j;
    if (!is_other(t_[j])) return 0;
    while (j < n_ && is_other(t_[j]))
      ++j;
    while (j < n_ && is_newline(t_[j]))
      ++j;
    return j;
  }

  std::size_t space_run_end(std::size_t i) const {
    while (i < n_ && is_white_space(t_[i]))
      ++i;
    return i;
  }

  // \s*[\r\n]+ : \s* first takes the whole white-space run, then gives back characters until
  // [\r\n]+ can start, i.e. until the run's last newline; that newline ends the match (the
  // run holds no newline after it, and what follows the run is not white space).
  std::size_t newline_run(std::size_t i) const {
    const std::size_t run_end = space_run_end(i);
    for (std::size_t k = run_end; k > i; --k) {
      if (is_newline(t_[k - 1])) return k;
    }
    return 0;
  }

  // \s+(?!\S) : the whole run when it ends the text; otherwise the run minus its last
  // character, which stays to lead the next piece (" word"). A single white-space character
  // before a non-space has nothing to give back and fails.
  std::size_t spaces_not_before_word(std::size_t i) const {
    const std::size_t run_end = space_run_end(i);
    if (run_end == i) return 0;
    if (run_end == n_) return run_end;
    return run_end - 1 > i ? run_end - 1 : 0;
  }

  const std::vector<char32_t>& t_;
  std::size_t n_;
};

}  // namespace

void qwen_pretokenize(const std::vector<char32_t>& text, std::vector<Piece>* pieces) {
  pieces->clear();
  const Scanner scanner(text);
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t end = scanner.match(i);
    pieces->push_back({i, end});
    i = end;
  }
}

}  // namespace fusebox::data
