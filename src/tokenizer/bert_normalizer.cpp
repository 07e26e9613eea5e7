#include "tokenizer/normalizers.hpp"

namespace bertscope::tokenizer {

namespace {

bool drops_in_clean_text(char32_t c, BertRules rules) {
  if (c == 0 || c == 0xFFFD) return true;
  return rules == BertRules::rust ? is_rust_control(c) : is_python_control(c);
}

bool is_clean_text_space(char32_t c, BertRules rules) {
  return rules == BertRules::rust ? is_white_space(c) : is_python_clean_whitespace(c);
}

}  // namespace

// Rust: clean text, CJK spacing, accent stripping, lower-casing. Python (BasicTokenizer): clean
// text, CJK spacing, NFC, then lower-casing and accent stripping. Python lower-cases and strips
// each whitespace-separated token; both act on single characters, so applying them to the whole
// text is the same.
void BertNormalizer::normalize(NormText& text) const {
  const BertRules rules = options_.rules;
  if (options_.clean_text) {
    std::size_t w = 0;
    for (const auto& ch : text) {
      if (drops_in_clean_text(ch.cp, rules)) continue;
      text[w] = ch;
      if (is_clean_text_space(ch.cp, rules)) text[w].cp = U' ';
      ++w;
    }
    text.resize(w);
  }
  if (options_.handle_chinese_chars) {
    // The spaces around a CJK character only ever separate words, so they carry empty spans.
    NormText out;
    out.reserve(text.size());
    for (const auto& ch : text) {
      if (is_cjk(ch.cp, rules)) {
        out.push_back({U' ', ch.begin, ch.begin});
        out.push_back(ch);
        out.push_back({U' ', ch.end, ch.end});
      } else {
        out.push_back(ch);
      }
    }
    text.swap(out);
  }
  if (rules == BertRules::rust) {
    if (options_.strip_accents.value_or(options_.lowercase)) strip_accents(text, rules);
    if (options_.lowercase) lowercase(text, rules);
    return;
  }
  compose_nfc(text, ComposedAlignment::whole_run);
  if (options_.lowercase) {
    lowercase(text, rules);
    if (options_.strip_accents != false) strip_accents(text, rules);
  } else if (options_.strip_accents == true) {
    strip_accents(text, rules);
  }
}

}  // namespace bertscope::tokenizer
