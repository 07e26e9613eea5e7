#include "tokenizer/unicode.hpp"

#include <algorithm>
#include <cstdlib>
#include <iterator>

#include <utf8proc.h>

#include "io/error.hpp"

namespace bertscope::tokenizer {

namespace {

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
#include "tokenizer/rust_tables.inc"

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
}  // namespace

bool is_white_space(char32_t c) {
  if ((c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85) return true;
  return c > 0x7F && is_separator_category(category(c));
}

// tokenizers' is_other (unicode_categories): Cc, Cf and Co; unassigned (Cn) code points are kept.
bool is_rust_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  if (c >= 0x80 && (in_ranges(k_rust_not_control, c) || in_ranges(k_rust_control, c))) {
    return in_ranges(k_rust_control, c);
  }
  auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO;
}

// unicode-normalization-alignments' is_combining_mark (Mn, Mc, Me of its older tables), which
// tokenizers' StripAccents normaliser drops.
bool is_rust_combining_mark(char32_t c) {
  if (c < 0x300) return false;
  if (in_ranges(k_rust_mark, c)) return true;
  if (in_ranges(k_rust_not_mark, c)) return false;
  auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME;
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
bool is_bert_punctuation(char32_t c, BertRules rules) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  if (c < 0x80) return false;
  if (rules == BertRules::rust) {
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
bool is_cjk(char32_t c, BertRules rules) {
  const char32_t ext_f_start = rules == BertRules::python ? 0x2B820 : 0x2B920;
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

namespace {

// Rust's char::to_lowercase and Python's str.lower() use the full mapping, where U+0130 becomes
// two code points; utf8proc_tolower gives the simple one-to-one mapping that covers the rest.
void append_lower(NormText& out, const NormChar& ch, BertRules rules) {
  if (rules == BertRules::rust && ch.cp >= 0x80) {
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

}  // namespace

void lowercase(NormText& text, BertRules rules) {
  NormText out;
  out.reserve(text.size());
  for (const auto& ch : text) append_lower(out, ch, rules);
  text.swap(out);
}

namespace {

int combining_class(char32_t c) {
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
}

// Decomposes each character on its own (so each keeps its alignment), then puts combining marks
// in canonical order as NFD requires. `keep` marks characters that must survive accent stripping.
void decompose(NormText& text, bool compat, const CodePointMapping* (*exception)(char32_t), std::vector<bool>* keep) {
  NormText out;
  out.reserve(text.size() + text.size() / 4);
  if (keep) keep->clear();
  utf8proc_int32_t buf[32];
  const auto options = compat ? static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT) : UTF8PROC_DECOMPOSE;
  for (const auto& ch : text) {
    if (ch.cp < 0xA0) {
      out.push_back(ch);
    } else if (const auto* m = exception ? exception(ch.cp) : nullptr) {
      for (unsigned k = 0; k < m->size; ++k) out.push_back({m->to[k], ch.begin, ch.end});
    } else {
      int boundclass = 0;
      auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(ch.cp), buf, 32, options, &boundclass);
      if (n <= 0 || n > 32) {
        out.push_back(ch);
      } else {
        for (utf8proc_ssize_t k = 0; k < n; ++k) out.push_back({static_cast<char32_t>(buf[k]), ch.begin, ch.end});
      }
    }
    if (keep) keep->resize(out.size(), exception && exception(ch.cp) != nullptr);
  }
  for (std::size_t i = 0; i < out.size();) {
    if (out[i].cp < 0x300 || combining_class(out[i].cp) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < out.size() && out[j].cp >= 0x300 && combining_class(out[j].cp) != 0) ++j;
    std::vector<std::size_t> order(j - i);
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = i + k;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return combining_class(out[a].cp) < combining_class(out[b].cp); });
    NormText run;
    std::vector<bool> run_keep;
    for (std::size_t k : order) {
      run.push_back(out[k]);
      if (keep) run_keep.push_back((*keep)[k]);
    }
    for (std::size_t k = 0; k < order.size(); ++k) {
      out[i + k] = run[k];
      if (keep) (*keep)[i + k] = run_keep[k];
    }
    i = j;
  }
  text.swap(out);
}

const CodePointMapping* rust_strip_accents_exception(char32_t c) { return find_mapping(k_rust_strip_accents, c); }

}  // namespace

// NFD, then drop nonspacing marks (Mn). Rust's tables strip some characters differently from
// utf8proc; those come from the exception table and are kept as they are.
void strip_accents(NormText& text, BertRules rules) {
  std::vector<bool> keep;
  decompose(text, false, rules == BertRules::rust ? &rust_strip_accents_exception : nullptr, &keep);
  std::size_t w = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!keep[i] && text[i].cp >= 0x300 && category(text[i].cp) == UTF8PROC_CATEGORY_MN) continue;
    text[w++] = text[i];
  }
  text.resize(w);
}

namespace {

std::u32string compose(const std::u32string& cps) {
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

}  // namespace

// NFC with alignments. The text is cut before every starter that does not compose with the
// run before it (composed so far); no composition or reordering crosses such a cut, so composing
// each run on its own gives the NFC of the whole and tells which original span each result came
// from. The test is against the composed run, not the previous character alone: a Hangul
// trailing consonant (T) composes with an LV syllable, which exists only once L + V composed, so
// in L V T the pair (V, T) composes with nothing, yet the three make one LVT syllable.
void compose_nfc(NormText& text, ComposedAlignment alignment) {
  NormText out;
  out.reserve(text.size());
  std::size_t i = 0;
  std::u32string run;
  while (i < text.size()) {
    std::size_t j = i + 1;
    while (j < text.size()) {
      const char32_t c = text[j].cp;
      if (c < 0x300) break;  // no composition has a second character below U+0300
      if (combining_class(c) == 0) {
        run.clear();
        for (std::size_t k = i; k < j; ++k) run.push_back(text[k].cp);
        const std::u32string apart = compose(run) + compose(std::u32string(1, c));
        run.push_back(c);
        if (compose(run) == apart) break;
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
      const std::u32string composed = compose(run);
      for (std::size_t k = 0; k < composed.size(); ++k) {
        if (alignment == ComposedAlignment::whole_run) {
          out.push_back({composed[k], begin, end});
        } else {
          const auto& from = text[i + std::min(k, j - i - 1)];
          out.push_back({composed[k], from.begin, from.end});
        }
      }
    }
    i = j;
  }
  text.swap(out);
}


void normalize_form(NormText& text, NormalForm form) {
  const bool compat = form == NormalForm::nfkc || form == NormalForm::nfkd;
  decompose(text, compat, nullptr, nullptr);
  if (form == NormalForm::nfc || form == NormalForm::nfkc) compose_nfc(text, ComposedAlignment::in_order);
}

bool is_numeric(char32_t c) {
  auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

// tokenizers' is_punc: ASCII punctuation or the Unicode P* categories of its (older) tables.
bool is_unicode_punctuation(char32_t c) {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return is_bert_punctuation(c, BertRules::rust);
}

}  // namespace bertscope::tokenizer
