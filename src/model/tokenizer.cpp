#include "model/tokenizer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::model {

namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Character classes. Every table lookup goes through utf8proc; the rules that combine them are
// those of Hugging Face (tokenizers' bert.rs for the fast flavour, tokenization_bert.py for the
// python one).

utf8proc_category_t category(char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)); }

// The fast flavour follows the Rust tokenizer, whose Unicode tables are not utf8proc's: these
// generated lists hold every code point where the two disagree (see unicode_tables.mjs).
struct CodePointRange {
  char32_t first, last;
};
struct CodePointMapping {
  char32_t from;
  unsigned size;
  char32_t to[3];
};
#include "model/tokenizer_rust_tables.inc"

template <std::size_t N>
bool in_ranges(const CodePointRange (&table)[N], char32_t c) {
  auto it = std::upper_bound(std::begin(table), std::end(table), c,
                             [](char32_t v, const CodePointRange& r) { return v < r.first; });
  return it != std::begin(table) && c <= std::prev(it)->last;
}

template <std::size_t N>
const CodePointMapping* find_mapping(const CodePointMapping (&table)[N], char32_t c) {
  auto it = std::lower_bound(std::begin(table), std::end(table), c,
                             [](const CodePointMapping& m, char32_t v) { return m.from < v; });
  return it != std::end(table) && it->from == c ? &*it : nullptr;
}

bool is_separator_category(utf8proc_category_t cat) {
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// The Unicode White_Space property (Rust's char::is_whitespace, regex \s): since Unicode 6.3 it
// is exactly the Z* categories plus the ASCII and Latin-1 controls below.
bool is_white_space(char32_t c) {
  if ((c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85) return true;
  return c > 0x7F && is_separator_category(category(c));
}

// tokenizers' is_other (unicode_categories): Cc, Cf and Co; unassigned (Cn) code points are kept.
bool is_fast_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  if (c >= 0x80 && (in_ranges(k_rust_not_control, c) || in_ranges(k_rust_control, c))) {
    return in_ranges(k_rust_control, c);
  }
  auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO;
}

// The python BasicTokenizer drops every category starting with "C", unassigned included.
bool is_python_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
      return true;
    default:
      return false;
  }
}

bool is_python_clean_whitespace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || category(c) == UTF8PROC_CATEGORY_ZS;
}

// Python's str.isspace(), which str.split() splits on: bidirectional class WS, B or S, or Zs.
bool is_python_split_space(char32_t c) {
  if (c == ' ') return true;
  if (c < 0x09) return false;
  const auto* prop = utf8proc_get_property(static_cast<utf8proc_int32_t>(c));
  auto bidi = prop->bidi_class;
  return bidi == UTF8PROC_BIDI_CLASS_WS || bidi == UTF8PROC_BIDI_CLASS_B || bidi == UTF8PROC_BIDI_CLASS_S ||
         prop->category == UTF8PROC_CATEGORY_ZS;
}

// BERT treats all non-alphanumeric ASCII as punctuation ("$", "^", "`" are not P* in Unicode).
bool is_punctuation(char32_t c, TokenizerFlavor flavor) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  if (c < 0x80) return false;
  if (flavor == TokenizerFlavor::fast) {
    if (in_ranges(k_rust_punctuation, c)) return true;
    if (in_ranges(k_rust_not_punctuation, c)) return false;
  }
  switch (category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

// The CJK blocks BERT surrounds with spaces. The python tokenizer starts the sixth range at
// 0x2B820, the Rust one at 0x2B920; each flavour keeps its own.
bool is_cjk(char32_t c, TokenizerFlavor flavor) {
  const char32_t ext_f_start = flavor == TokenizerFlavor::python ? 0x2B820 : 0x2B920;
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= ext_f_start && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Rust regex \w, which decides the single_word rule of added tokens.
bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (c == 0x200C || c == 0x200D) return true;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

void append_utf8(std::string& out, char32_t c) {
  utf8proc_uint8_t buf[4];
  auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

// ---------------------------------------------------------------------------------------------
// Text with alignments. Every normalised character remembers the span of original code points
// it came from, as tokenizers' NormalizedString does, so that offsets point into the input.

struct NormChar {
  char32_t cp;
  std::uint32_t begin;  // original code point span [begin, end)
  std::uint32_t end;
  bool stripped = false;  // already what the Rust strip_accents makes of it: not to be dropped
};
using NormText = std::vector<NormChar>;

struct Decoded {
  std::u32string cps;
  std::vector<std::size_t> byte_at;  // byte offset of each code point, plus the total length
};

Decoded decode(std::string_view text, const char* what) {
  if (auto bad = io::find_invalid_utf8(text); bad != std::string_view::npos) {
    fail(ErrorKind::input, "{} is not valid UTF-8: invalid byte sequence at byte {}", what, bad);
  }
  Decoded out;
  out.cps.reserve(text.size());
  out.byte_at.reserve(text.size() + 1);
  const auto* s = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  std::size_t i = 0;
  while (i < text.size()) {
    utf8proc_int32_t cp = 0;
    auto n = utf8proc_iterate(s + i, static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (n <= 0) fail(ErrorKind::input, "{} is not valid UTF-8: invalid byte sequence at byte {}", what, i);
    out.cps.push_back(static_cast<char32_t>(cp));
    out.byte_at.push_back(i);
    i += static_cast<std::size_t>(n);
  }
  out.byte_at.push_back(text.size());
  return out;
}

// Rust's char::to_lowercase and Python's str.lower() use the full mapping, where U+0130 becomes
// two code points; utf8proc_tolower gives the simple one-to-one mapping that covers the rest.
void append_lower(NormText& out, const NormChar& ch, TokenizerFlavor flavor) {
  if (flavor == TokenizerFlavor::fast && ch.cp >= 0x80) {
    if (const auto* m = find_mapping(k_rust_lowercase, ch.cp)) {
      for (unsigned k = 0; k < m->size; ++k) out.push_back({m->to[k], ch.begin, ch.end});
      return;
    }
  }
  if (ch.cp == 0x130) {
    out.push_back({U'i', ch.begin, ch.end});
    out.push_back({0x307, ch.begin, ch.end});
    return;
  }
  out.push_back({static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(ch.cp))), ch.begin, ch.end});
}

void lowercase(NormText& text, TokenizerFlavor flavor) {
  NormText out;
  out.reserve(text.size());
  for (const auto& ch : text) append_lower(out, ch, flavor);
  text.swap(out);
}

int combining_class(char32_t c) {
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
}

// NFD, then drop nonspacing marks (Mn). Characters are decomposed one by one so each keeps its
// alignment, then put in canonical order as NFD requires.
void strip_accents(NormText& text, TokenizerFlavor flavor) {
  NormText out;
  out.reserve(text.size() + text.size() / 4);
  utf8proc_int32_t buf[32];
  for (const auto& ch : text) {
    if (ch.cp < 0xC0) {
      out.push_back(ch);
      continue;
    }
    if (flavor == TokenizerFlavor::fast) {
      if (const auto* m = find_mapping(k_rust_strip_accents, ch.cp)) {
        for (unsigned k = 0; k < m->size; ++k) out.push_back({m->to[k], ch.begin, ch.end, true});
        continue;
      }
    }
    int boundclass = 0;
    auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(ch.cp), buf, 32, UTF8PROC_DECOMPOSE, &boundclass);
    if (n <= 0 || n > 32) {
      out.push_back(ch);
      continue;
    }
    for (utf8proc_ssize_t k = 0; k < n; ++k) out.push_back({static_cast<char32_t>(buf[k]), ch.begin, ch.end});
  }
  for (std::size_t i = 0; i < out.size();) {
    if (out[i].cp < 0x300 || combining_class(out[i].cp) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < out.size() && out[j].cp >= 0x300 && combining_class(out[j].cp) != 0) ++j;
    std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(i), out.begin() + static_cast<std::ptrdiff_t>(j),
                     [](const NormChar& a, const NormChar& b) { return combining_class(a.cp) < combining_class(b.cp); });
    i = j;
  }
  std::erase_if(out, [](const NormChar& ch) {
    return !ch.stripped && ch.cp >= 0x300 && category(ch.cp) == UTF8PROC_CATEGORY_MN;
  });
  for (auto& ch : out) ch.stripped = false;
  text.swap(out);
}

std::u32string nfc(const std::u32string& cps) {
  std::string utf8;
  for (char32_t c : cps) append_utf8(utf8, c);
  utf8proc_uint8_t* mapped = nullptr;
  auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()), static_cast<utf8proc_ssize_t>(utf8.size()),
                        &mapped, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) fail(ErrorKind::internal, "NFC normalisation failed: {}", utf8proc_errmsg(n));
  std::u32string out;
  for (utf8proc_ssize_t i = 0; i < n;) {
    utf8proc_int32_t cp = 0;
    auto k = utf8proc_iterate(mapped + i, n - i, &cp);
    out.push_back(static_cast<char32_t>(cp));
    i += k;
  }
  std::free(mapped);
  return out;
}

// NFC for the python flavour. The text is cut before every starter that does not compose with
// the character before it; no composition or reordering crosses such a cut, so composing each
// run on its own gives the NFC of the whole and tells which original span each result came from.
void compose_nfc(NormText& text) {
  NormText out;
  out.reserve(text.size());
  std::size_t i = 0;
  std::u32string run;
  while (i < text.size()) {
    std::size_t j = i + 1;
    while (j < text.size()) {
      char32_t prev = text[j - 1].cp, c = text[j].cp;
      if (c < 0x300) break;  // no composition has a second character below U+0300
      if (combining_class(c) == 0) {
        std::u32string pair{prev, c};
        auto composed = nfc(pair);
        if (composed == nfc(std::u32string(1, prev)) + nfc(std::u32string(1, c))) break;
      }
      ++j;
    }
    if (j == i + 1 && text[i].cp < 0x300) {
      out.push_back(text[i]);
    } else {
      run.clear();
      std::uint32_t begin = text[i].begin, end = text[i].end;
      for (std::size_t k = i; k < j; ++k) {
        run.push_back(text[k].cp);
        begin = std::min(begin, text[k].begin);
        end = std::max(end, text[k].end);
      }
      for (char32_t c : nfc(run)) out.push_back({c, begin, end});
    }
    i = j;
  }
  text.swap(out);
}

std::string to_utf8(const NormChar* chars, std::size_t n) {
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) append_utf8(out, chars[i].cp);
  return out;
}

std::u32string to_u32(std::string_view utf8) {
  std::u32string out;
  const auto* s = reinterpret_cast<const utf8proc_uint8_t*>(utf8.data());
  for (std::size_t i = 0; i < utf8.size();) {
    utf8proc_int32_t cp = 0;
    auto n = utf8proc_iterate(s + i, static_cast<utf8proc_ssize_t>(utf8.size() - i), &cp);
    if (n <= 0) return {};
    out.push_back(static_cast<char32_t>(cp));
    i += static_cast<std::size_t>(n);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The normalisers.

void normalize_fast(NormText& text, const TokenizerSettings& s) {
  if (s.clean_text) {
    std::size_t w = 0;
    for (const auto& ch : text) {
      if (ch.cp == 0 || ch.cp == 0xFFFD || is_fast_control(ch.cp)) continue;
      text[w] = ch;
      if (is_white_space(ch.cp)) text[w].cp = U' ';
      ++w;
    }
    text.resize(w);
  }
  if (s.tokenize_chinese_chars) {
    NormText out;
    out.reserve(text.size());
    for (const auto& ch : text) {
      if (is_cjk(ch.cp, TokenizerFlavor::fast)) {
        out.push_back({U' ', ch.begin, ch.begin});
        out.push_back(ch);
        out.push_back({U' ', ch.end, ch.end});
      } else {
        out.push_back(ch);
      }
    }
    text.swap(out);
  }
  if (s.strip_accents.value_or(s.lowercase)) strip_accents(text, TokenizerFlavor::fast);
  if (s.lowercase) lowercase(text, TokenizerFlavor::fast);
}

// BasicTokenizer up to the split: clean, CJK spacing, NFC, then lower-casing and accent
// stripping. Python lower-cases and strips each whitespace-separated token; both act on single
// characters (PreTrainedTokenizer.tokenize has already lower-cased the text one character at a
// time, so no final-sigma context applies), so applying them to the whole text is the same.
void normalize_python(NormText& text, const TokenizerSettings& s) {
  if (s.clean_text) {
    std::size_t w = 0;
    for (const auto& ch : text) {
      if (ch.cp == 0 || ch.cp == 0xFFFD || is_python_control(ch.cp)) continue;
      text[w] = ch;
      if (is_python_clean_whitespace(ch.cp)) text[w].cp = U' ';
      ++w;
    }
    text.resize(w);
  }
  if (s.tokenize_chinese_chars) {
    NormText out;
    out.reserve(text.size());
    for (const auto& ch : text) {
      if (is_cjk(ch.cp, TokenizerFlavor::python)) {
        out.push_back({U' ', ch.begin, ch.begin});
        out.push_back(ch);
        out.push_back({U' ', ch.end, ch.end});
      } else {
        out.push_back(ch);
      }
    }
    text.swap(out);
  }
  compose_nfc(text);
  if (s.lowercase) {
    lowercase(text, TokenizerFlavor::python);
    if (s.strip_accents != false) strip_accents(text, TokenizerFlavor::python);
  } else if (s.strip_accents == true) {
    strip_accents(text, TokenizerFlavor::python);
  }
}

// ---------------------------------------------------------------------------------------------
// Added-token matching, as tokenizers' AddedVocabulary::find_matches: leftmost-longest
// non-overlapping matches; single_word drops a match touching word characters; lstrip/rstrip
// widen a match over neighbouring whitespace.

struct Match {
  std::size_t start, stop;
  std::size_t token;
};

std::vector<Match> find_added(const char32_t* s, std::size_t n, const std::vector<AddedToken>& tokens,
                              const std::vector<std::u32string>& patterns, bool normalized_pass) {
  std::vector<Match> out;
  std::size_t start_offset = 0;
  std::size_t i = 0;
  while (i < n) {
    std::size_t best = SIZE_MAX, best_len = 0;
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      if (tokens[t].normalized != normalized_pass) continue;
      const auto& p = patterns[t];
      if (p.empty() || p.size() <= best_len || p.size() > n - i || p[0] != s[i]) continue;
      if (std::equal(p.begin(), p.end(), s + i)) {
        best = t;
        best_len = p.size();
      }
    }
    if (best == SIZE_MAX) {
      ++i;
      continue;
    }
    std::size_t start = i, stop = i + best_len;
    i = stop;
    const auto& tok = tokens[best];
    if (tok.single_word) {
      bool left_ok = start == 0 || !is_word_char(s[start - 1]);
      bool right_ok = stop == n || !is_word_char(s[stop]);
      if (!left_ok || !right_ok) continue;
    }
    if (tok.lstrip) {
      std::size_t b = start;
      while (b > 0 && is_white_space(s[b - 1])) --b;
      start = std::max(b, start_offset);
    }
    if (tok.rstrip) {
      while (stop < n && is_white_space(s[stop])) ++stop;
      i = stop;
    }
    out.push_back({start, stop, best});
    start_offset = stop;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct Tokenizer::Segment {
  std::vector<std::int32_t> ids;
  std::vector<std::string> tokens;
  std::vector<std::int32_t> word_ids;
  std::vector<std::pair<std::int64_t, std::int64_t>> char_offsets;
  std::vector<std::pair<std::int64_t, std::int64_t>> byte_offsets;

  std::size_t size() const { return ids.size(); }
  void truncate(std::size_t n) {
    ids.resize(n);
    tokens.resize(n);
    word_ids.resize(n);
    char_offsets.resize(n);
    byte_offsets.resize(n);
  }
};

Tokenizer::Segment Tokenizer::encode_segment(std::string_view text, const char* what, std::int32_t forced_word) const {
  const Decoded input = decode(text, what);
  const bool python = settings_.flavor == TokenizerFlavor::python;
  Segment seg;
  std::int32_t word = 0;

  auto push = [&](std::int32_t id, std::string token, std::uint32_t begin, std::uint32_t end) {
    seg.ids.push_back(id);
    seg.tokens.push_back(std::move(token));
    seg.word_ids.push_back(forced_word >= 0 ? forced_word : word);
    seg.char_offsets.emplace_back(begin, end);
    seg.byte_offsets.emplace_back(input.byte_at[begin], input.byte_at[end]);
  };

  std::string key;  // reused buffer for "##" + piece
  auto wordpiece = [&](const NormChar* w, std::size_t n) {
    if (n > settings_.max_input_chars_per_word) {
      push(unk_id_, settings_.unk_token, w[0].begin, w[n - 1].end);
      ++word;
      return;
    }
    const std::string bytes = to_utf8(w, n);
    std::vector<std::size_t> at(n + 1);  // byte offset of each character of the word
    for (std::size_t i = 0, b = 0; i < n; ++i) {
      at[i] = b;
      b += w[i].cp < 0x80 ? 1 : w[i].cp < 0x800 ? 2 : w[i].cp < 0x10000 ? 3 : 4;
    }
    at[n] = bytes.size();
    const std::size_t first = seg.size();
    std::size_t start = 0;
    while (start < n) {
      std::size_t end = n;
      std::int32_t found = -1;
      while (start < end) {
        std::string_view piece(bytes.data() + at[start], at[end] - at[start]);
        decltype(ids_)::const_iterator it;
        if (start == 0) {
          it = ids_.find(piece);
        } else {
          key.assign(settings_.continuing_subword_prefix);
          key.append(piece);
          it = ids_.find(std::string_view(key));
        }
        if (it != ids_.end()) {
          found = it->second;
          break;
        }
        --end;
      }
      if (found < 0) {
        seg.truncate(first);
        push(unk_id_, settings_.unk_token, w[0].begin, w[n - 1].end);
        ++word;
        return;
      }
      push(found, vocab_[static_cast<std::size_t>(found)], w[start].begin, w[end - 1].end);
      start = end;
    }
    ++word;
  };

  // Whitespace ends a word and is dropped; punctuation is a word of its own.
  auto pre_tokenize = [&](const NormText& t) {
    std::size_t begin = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
      char32_t c = t[i].cp;
      bool space = python ? is_python_split_space(c) : is_white_space(c);
      if (space || is_punctuation(c, settings_.flavor)) {
        if (i > begin) wordpiece(t.data() + begin, i - begin);
        if (!space) wordpiece(t.data() + i, 1);
        begin = i + 1;
      }
    }
    if (t.size() > begin) wordpiece(t.data() + begin, t.size() - begin);
  };

  auto added = [&](std::size_t token, std::uint32_t begin, std::uint32_t end) {
    const auto& tok = added_tokens_[token];
    push(tok.id, tok.content, begin, end);
    ++word;
  };

  // Raw-text matches first; the text between them is normalised, searched for the normalised
  // added tokens, then pre-tokenised and cut into word pieces.
  auto normalized_piece = [&](std::uint32_t begin, std::uint32_t end) {
    NormText t;
    t.reserve(end - begin);
    for (std::uint32_t i = begin; i < end; ++i) t.push_back({input.cps[i], i, i + 1});
    if (python) {
      normalize_python(t, settings_);
    } else {
      normalize_fast(t, settings_);
    }
    if (t.empty()) return;
    std::u32string cps(t.size(), U'\0');
    for (std::size_t i = 0; i < t.size(); ++i) cps[i] = t[i].cp;
    std::size_t last = 0;
    for (const auto& m : find_added(cps.data(), cps.size(), added_tokens_, added_patterns_, true)) {
      if (m.start > last) pre_tokenize(NormText(t.begin() + static_cast<std::ptrdiff_t>(last), t.begin() + static_cast<std::ptrdiff_t>(m.start)));
      added(m.token, t[m.start].begin, t[m.stop - 1].end);
      last = m.stop;
    }
    if (last == 0) {
      pre_tokenize(t);
    } else if (last < t.size()) {
      pre_tokenize(NormText(t.begin() + static_cast<std::ptrdiff_t>(last), t.end()));
    }
  };

  std::uint32_t last = 0;
  for (const auto& m : find_added(input.cps.data(), input.cps.size(), added_tokens_, added_patterns_, false)) {
    if (m.start > last) normalized_piece(last, static_cast<std::uint32_t>(m.start));
    added(m.token, static_cast<std::uint32_t>(m.start), static_cast<std::uint32_t>(m.stop));
    last = static_cast<std::uint32_t>(m.stop);
  }
  if (last < input.cps.size()) normalized_piece(last, static_cast<std::uint32_t>(input.cps.size()));
  return seg;
}

Encoding Tokenizer::assemble(Segment& a, Segment* b, const EncodeOptions& options) const {
  const std::size_t specials = num_special_tokens(b != nullptr);
  const std::size_t total = a.size() + (b ? b->size() : 0) + specials;
  std::size_t removed = 0;
  if (options.max_length > 0 && total > options.max_length) {
    if (!options.truncate) {
      fail(ErrorKind::input,
           "the input is {} tokens long (special tokens included), over the limit of {}; use --truncate to cut it "
           "to {} tokens",
           total, options.max_length, options.max_length);
    }
    if (options.max_length < specials) {
      fail(ErrorKind::input, "max_length {} cannot hold the {} special tokens of the encoding", options.max_length,
           specials);
    }
    // Hugging Face's longest_first: the shorter sequence keeps its length while that leaves room,
    // else both get half, the longer one the odd token.
    const std::size_t limit = options.max_length - specials;
    if (b) {
      std::size_t n1 = a.size(), n2 = b->size();
      const bool swap = n1 > n2;
      if (swap) std::swap(n1, n2);
      n2 = n1 > limit ? n1 : std::max(n1, limit - n1);
      if (n1 + n2 > limit) {
        n1 = limit / 2;
        n2 = n1 + limit % 2;
      }
      if (swap) std::swap(n1, n2);
      removed = a.size() - std::min(a.size(), n1) + b->size() - std::min(b->size(), n2);
      a.truncate(std::min(a.size(), n1));
      b->truncate(std::min(b->size(), n2));
    } else {
      removed = a.size() - limit;
      a.truncate(limit);
    }
  }

  Encoding enc;
  enc.num_truncated = removed;
  const std::size_t n = a.size() + (b ? b->size() : 0) + specials;
  enc.ids.reserve(n);
  auto special = [&](std::int32_t id, const std::string& token, std::int32_t type) {
    enc.ids.push_back(id);
    enc.type_ids.push_back(type);
    enc.tokens.push_back(token);
    enc.word_ids.push_back(-1);
    enc.sequence_ids.push_back(-1);
    enc.char_offsets.emplace_back(0, 0);
    enc.byte_offsets.emplace_back(0, 0);
  };
  auto sequence = [&](Segment& s, std::int32_t type) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      enc.ids.push_back(s.ids[i]);
      enc.type_ids.push_back(type);
      enc.tokens.push_back(std::move(s.tokens[i]));
      enc.word_ids.push_back(s.word_ids[i]);
      enc.sequence_ids.push_back(type);
      enc.char_offsets.push_back(s.char_offsets[i]);
      enc.byte_offsets.push_back(s.byte_offsets[i]);
    }
  };
  special(cls_id_, settings_.cls_token, 0);
  sequence(a, 0);
  special(sep_id_, settings_.sep_token, 0);
  if (b) {
    sequence(*b, 1);
    special(sep_id_, settings_.sep_token, 1);
  }
  return enc;
}

Encoding Tokenizer::encode(std::string_view text, std::optional<std::string_view> pair,
                           const EncodeOptions& options) const {
  Segment a = encode_segment(text, "the input text", -1);
  if (!pair) return assemble(a, nullptr, options);
  Segment b = encode_segment(*pair, "the second text of the pair", -1);
  return assemble(a, &b, options);
}

Encoding Tokenizer::encode_words(const std::vector<std::string>& words, const EncodeOptions& options) const {
  Segment all;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string what = fmt::format("word {} of the input", i);
    Segment w = encode_segment(words[i], what.c_str(), static_cast<std::int32_t>(i));
    for (std::size_t k = 0; k < w.size(); ++k) {
      all.ids.push_back(w.ids[k]);
      all.tokens.push_back(std::move(w.tokens[k]));
      all.word_ids.push_back(w.word_ids[k]);
      all.char_offsets.push_back(w.char_offsets[k]);
      all.byte_offsets.push_back(w.byte_offsets[k]);
    }
  }
  return assemble(all, nullptr, options);
}

std::vector<std::string> Tokenizer::tokenize(std::string_view text) const {
  return encode_segment(text, "the input text", -1).tokens;
}

std::optional<std::int32_t> Tokenizer::find(std::string_view token) const {
  auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string& Tokenizer::token(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= vocab_.size()) {
    fail(ErrorKind::input, "token id {} is out of range: the vocabulary has {} entries", id, vocab_.size());
  }
  return vocab_[static_cast<std::size_t>(id)];
}

// ---------------------------------------------------------------------------------------------
// Loading.

namespace {

struct Loaded {
  TokenizerSettings settings;
  std::vector<std::string> vocab;
  std::vector<AddedToken> added;
  std::filesystem::path vocab_source;
  std::filesystem::path special_source;  // the file that named the special tokens
};

std::vector<std::string> read_vocab_txt(const std::filesystem::path& path) {
  std::string content = io::read_file(path);
  if (auto bad = io::find_invalid_utf8(content); bad != std::string::npos) {
    fail(ErrorKind::format, "{}: invalid UTF-8 at byte {}", path.string(), bad);
  }
  std::vector<std::string> vocab;
  std::size_t start = 0;
  // As transformers' load_vocab: one token a line, only the "\n" removed.
  while (start < content.size()) {
    std::size_t nl = content.find('\n', start);
    if (nl == std::string::npos) nl = content.size();
    vocab.emplace_back(content, start, nl - start);
    start = nl + 1;
  }
  if (vocab.empty()) fail(ErrorKind::format, "{}: the vocabulary is empty", path.string());
  return vocab;
}

bool json_bool(const json& obj, const char* key, bool fallback, const std::filesystem::path& file) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail(ErrorKind::format, "{}: \"{}\" must be true or false, not {}", file.string(), key, it->dump());
  return it->get<bool>();
}

std::optional<bool> json_optional_bool(const json& obj, const char* key, const std::filesystem::path& file) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) {
    fail(ErrorKind::format, "{}: \"{}\" must be true, false or null, not {}", file.string(), key, it->dump());
  }
  return it->get<bool>();
}

// A special token in tokenizer_config.json is a string or an AddedToken object {"content": ...}.
std::optional<std::string> json_token(const json& obj, const char* key, const std::filesystem::path& file) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  fail(ErrorKind::format, "{}: \"{}\" must be a string or an object with a \"content\" string, not {}", file.string(),
       key, it->dump());
}

AddedToken parse_added_token(const json& j, const std::filesystem::path& file) {
  if (!j.is_object() || !j.contains("content") || !j["content"].is_string()) {
    fail(ErrorKind::format, "{}: an added token must be an object with a \"content\" string, not {}", file.string(),
         j.dump());
  }
  AddedToken t;
  t.content = j["content"].get<std::string>();
  t.single_word = json_bool(j, "single_word", false, file);
  t.lstrip = json_bool(j, "lstrip", false, file);
  t.rstrip = json_bool(j, "rstrip", false, file);
  t.special = json_bool(j, "special", false, file);
  t.normalized = json_bool(j, "normalized", !t.special, file);
  return t;
}

void load_tokenizer_json(const std::filesystem::path& path, Loaded& out) {
  const json doc = io::read_json(path);
  if (!doc.is_object()) fail(ErrorKind::format, "{}: expected a JSON object at the top level", path.string());
  const auto model = doc.find("model");
  if (model == doc.end() || !model->is_object()) fail(ErrorKind::format, "{}: no \"model\" object", path.string());
  if (model->value("type", std::string("WordPiece")) != "WordPiece") {
    fail(ErrorKind::format, "{}: model type \"{}\" is not supported, only WordPiece", path.string(),
         model->value("type", std::string()));
  }
  const auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object() || vocab->empty()) {
    fail(ErrorKind::format, "{}: \"model.vocab\" must be a non-empty object of token: id", path.string());
  }
  out.vocab.assign(vocab->size(), std::string());
  std::vector<bool> seen(vocab->size(), false);
  for (const auto& [token, id] : vocab->items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() >= static_cast<std::int64_t>(vocab->size()) ||
        seen[id.get<std::size_t>()]) {
      fail(ErrorKind::format, "{}: \"model.vocab\" must number its {} tokens 0..{} once each; \"{}\" has {}",
           path.string(), vocab->size(), vocab->size() - 1, token, id.dump());
    }
    seen[id.get<std::size_t>()] = true;
    out.vocab[id.get<std::size_t>()] = token;
  }
  auto& s = out.settings;
  if (auto it = model->find("unk_token"); it != model->end() && it->is_string()) s.unk_token = it->get<std::string>();
  if (auto it = model->find("continuing_subword_prefix"); it != model->end() && it->is_string()) {
    s.continuing_subword_prefix = it->get<std::string>();
  }
  if (auto it = model->find("max_input_chars_per_word"); it != model->end() && it->is_number_unsigned()) {
    s.max_input_chars_per_word = it->get<std::size_t>();
  }

  const auto normalizer = doc.find("normalizer");
  if (normalizer == doc.end() || normalizer->is_null()) {
    s.clean_text = false;
    s.tokenize_chinese_chars = false;
    s.lowercase = false;
    s.strip_accents = false;
  } else {
    if (!normalizer->is_object() || normalizer->value("type", std::string()) != "BertNormalizer") {
      fail(ErrorKind::format, "{}: normalizer {} is not supported, only BertNormalizer", path.string(),
           normalizer->is_object() ? normalizer->value("type", std::string("without a type")) : normalizer->dump());
    }
    s.clean_text = json_bool(*normalizer, "clean_text", true, path);
    s.tokenize_chinese_chars = json_bool(*normalizer, "handle_chinese_chars", true, path);
    s.lowercase = json_bool(*normalizer, "lowercase", true, path);
    s.strip_accents = json_optional_bool(*normalizer, "strip_accents", path);
  }
  if (auto pre = doc.find("pre_tokenizer"); pre != doc.end() && !pre->is_null() &&
                                            (!pre->is_object() || pre->value("type", std::string()) != "BertPreTokenizer")) {
    fail(ErrorKind::format, "{}: pre_tokenizer {} is not supported, only BertPreTokenizer", path.string(),
         pre->is_object() ? pre->value("type", std::string("without a type")) : pre->dump());
  }
  if (auto post = doc.find("post_processor"); post != doc.end() && post->is_object()) {
    const std::string type = post->value("type", std::string());
    if (type == "BertProcessing") {
      auto first_string = [&](const char* key) -> std::optional<std::string> {
        auto it = post->find(key);
        if (it != post->end() && it->is_array() && !it->empty() && (*it)[0].is_string()) return (*it)[0].get<std::string>();
        return std::nullopt;
      };
      if (auto t = first_string("cls")) s.cls_token = *t;
      if (auto t = first_string("sep")) s.sep_token = *t;
    } else if (type == "TemplateProcessing") {
      // "[CLS] $A [SEP]": the first special token of the single template opens, the last closes.
      auto single = post->find("single");
      if (single != post->end() && single->is_array()) {
        std::vector<std::string> specials;
        for (const auto& piece : *single) {
          if (piece.contains("SpecialToken")) specials.push_back(piece["SpecialToken"].value("id", std::string()));
        }
        if (specials.size() == 2) {
          s.cls_token = specials[0];
          s.sep_token = specials[1];
        }
      }
    }
  }

  if (auto added = doc.find("added_tokens"); added != doc.end() && added->is_array()) {
    for (const auto& j : *added) {
      AddedToken t = parse_added_token(j, path);
      if (!j.contains("id") || !j["id"].is_number_integer() || j["id"].get<std::int64_t>() < 0) {
        fail(ErrorKind::format, "{}: added token \"{}\" needs a non-negative integer \"id\"", path.string(), t.content);
      }
      t.id = j["id"].get<std::int32_t>();
      out.added.push_back(std::move(t));
    }
  }
  out.vocab_source = path;
  out.special_source = path;
}

// Values above this are transformers' "no limit" placeholder (int(1e30)), not a length.
constexpr double kNoModelMaxLength = 1e15;

void apply_tokenizer_config(const std::filesystem::path& path, Loaded& out) {
  const json cfg = io::read_json(path);
  if (!cfg.is_object()) fail(ErrorKind::format, "{}: expected a JSON object at the top level", path.string());
  auto& s = out.settings;
  // BertTokenizerFast.__init__ rebuilds the normaliser from its arguments (defaults True, None,
  // True) whenever they differ from tokenizer.json's, so the config's values, or those defaults,
  // win.
  s.lowercase = json_bool(cfg, "do_lower_case", true, path);
  s.strip_accents = json_optional_bool(cfg, "strip_accents", path);
  s.tokenize_chinese_chars = json_bool(cfg, "tokenize_chinese_chars", true, path);
  bool named = false;
  for (auto [key, field] : {std::pair{"unk_token", &s.unk_token}, std::pair{"cls_token", &s.cls_token},
                            std::pair{"sep_token", &s.sep_token}, std::pair{"pad_token", &s.pad_token},
                            std::pair{"mask_token", &s.mask_token}}) {
    if (auto t = json_token(cfg, key, path)) {
      *field = *t;
      named = true;
    }
  }
  if (named) out.special_source = path;
  if (auto it = cfg.find("model_max_length"); it != cfg.end() && it->is_number()) {
    const double v = it->get<double>();
    if (v >= 1 && v < kNoModelMaxLength && std::floor(v) == v) s.model_max_length = static_cast<std::size_t>(v);
  }
  // A folder with vocab.txt and no tokenizer.json takes its added tokens from the config.
  if (out.added.empty()) {
    if (auto dec = cfg.find("added_tokens_decoder"); dec != cfg.end() && dec->is_object()) {
      for (const auto& [id, j] : dec->items()) {
        AddedToken t = parse_added_token(j, path);
        try {
          t.id = std::stoi(id);
        } catch (const std::exception&) {
          fail(ErrorKind::format, "{}: added_tokens_decoder key \"{}\" is not a token id", path.string(), id);
        }
        out.added.push_back(std::move(t));
      }
    }
  }
}

}  // namespace

void Tokenizer::finish_loading(const std::filesystem::path& source) {
  ids_.clear();
  ids_.reserve(vocab_.size() + added_tokens_.size());
  // A vocabulary with repeated lines maps the token to its last line, as a Python dict would.
  for (std::size_t i = 0; i < vocab_.size(); ++i) ids_[vocab_[i]] = static_cast<std::int32_t>(i);
  for (const auto& t : added_tokens_) {
    if (static_cast<std::size_t>(t.id) >= vocab_.size()) vocab_.resize(static_cast<std::size_t>(t.id) + 1);
    if (vocab_[static_cast<std::size_t>(t.id)].empty()) vocab_[static_cast<std::size_t>(t.id)] = t.content;
    ids_.emplace(t.content, t.id);
  }
  auto require = [&](const std::string& token, const char* role) {
    auto it = ids_.find(token);
    if (it == ids_.end()) {
      fail(ErrorKind::model, "{}: the {} token \"{}\" is not in the vocabulary", source.string(), role, token);
    }
    return it->second;
  };
  unk_id_ = require(settings_.unk_token, "unknown");
  cls_id_ = require(settings_.cls_token, "classifier");
  sep_id_ = require(settings_.sep_token, "separator");
  pad_id_ = require(settings_.pad_token, "padding");
  mask_id_ = require(settings_.mask_token, "mask");

  // Without added tokens in the files, the five special tokens are added as transformers does
  // when it builds a fast tokenizer from vocab.txt: special, not normalised, no stripping.
  if (added_tokens_.empty()) {
    for (const auto* t : {&settings_.pad_token, &settings_.unk_token, &settings_.cls_token, &settings_.sep_token,
                          &settings_.mask_token}) {
      AddedToken a;
      a.content = *t;
      a.id = ids_.at(*t);
      added_tokens_.push_back(std::move(a));
    }
  }
  special_tokens_.clear();
  added_patterns_.clear();
  for (const auto& t : added_tokens_) {
    if (t.special) special_tokens_.push_back(t.content);
    if (!t.normalized) {
      added_patterns_.push_back(to_u32(t.content));
      continue;
    }
    // Normalised added tokens are matched in normalised text, so their pattern is normalised too.
    const Decoded d = decode(t.content, "an added token");
    NormText text;
    for (std::uint32_t i = 0; i < d.cps.size(); ++i) text.push_back({d.cps[i], i, i + 1});
    if (settings_.flavor == TokenizerFlavor::python) {
      normalize_python(text, settings_);
    } else {
      normalize_fast(text, settings_);
    }
    std::u32string pattern;
    for (const auto& ch : text) pattern.push_back(ch.cp);
    added_patterns_.push_back(std::move(pattern));
  }
}

Tokenizer Tokenizer::from_vocab(const std::filesystem::path& vocab_txt, const TokenizerSettings& settings) {
  Tokenizer tok;
  tok.settings_ = settings;
  tok.vocab_ = read_vocab_txt(vocab_txt);
  tok.finish_loading(vocab_txt);
  return tok;
}

Tokenizer Tokenizer::from_folder(const std::filesystem::path& dir, std::optional<TokenizerFlavor> flavor) {
  Loaded loaded;
  const auto tokenizer_json = dir / "tokenizer.json";
  const auto vocab_txt = dir / "vocab.txt";
  const auto config = dir / "tokenizer_config.json";
  std::error_code ec;
  if (std::filesystem::is_regular_file(tokenizer_json, ec)) {
    load_tokenizer_json(tokenizer_json, loaded);
  } else if (std::filesystem::is_regular_file(vocab_txt, ec)) {
    loaded.vocab = read_vocab_txt(vocab_txt);
    loaded.vocab_source = vocab_txt;
    loaded.special_source = vocab_txt;
  } else {
    fail(ErrorKind::io, "{}: no tokenizer.json or vocab.txt in this folder", dir.string());
  }
  if (std::filesystem::is_regular_file(config, ec)) apply_tokenizer_config(config, loaded);
  if (flavor) loaded.settings.flavor = *flavor;

  Tokenizer tok;
  tok.settings_ = std::move(loaded.settings);
  tok.vocab_ = std::move(loaded.vocab);
  tok.added_tokens_ = std::move(loaded.added);
  tok.finish_loading(loaded.special_source);
  return tok;
}

}  // namespace bertscope::model
