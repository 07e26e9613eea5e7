// Character classes and per-character transformations with the rules of Hugging Face's
// tokenizers (Rust) and, where the BERT pipeline asks for it, of the old Python BertTokenizer.
// Every table lookup goes through utf8proc; where the Rust crates' Unicode tables differ from
// utf8proc's, generated exception lists (rust_tables.inc) say what Rust does.
#pragma once

#include "tokenizer/text.hpp"

namespace bertscope::tokenizer {

// Which implementation's rules a BERT normaliser / pre-tokeniser follows.
enum class BertRules { rust, python };

bool is_white_space(char32_t c);  // Unicode White_Space (Rust char::is_whitespace)
bool is_rust_control(char32_t c);  // tokenizers' is_other: Cc, Cf, Co (not \t \n \r)
bool is_rust_combining_mark(char32_t c);  // what tokenizers' StripAccents drops: M* (Rust tables)
bool is_python_control(char32_t c);  // Python BasicTokenizer: every C* category
bool is_python_clean_whitespace(char32_t c);
bool is_python_split_space(char32_t c);  // Python str.isspace()
bool is_bert_punctuation(char32_t c, BertRules rules);  // P* plus all non-alphanumeric ASCII
bool is_unicode_punctuation(char32_t c);  // tokenizers' is_punc (Rust tables): P* or ASCII punctuation
bool is_cjk(char32_t c, BertRules rules);
bool is_word_char(char32_t c);  // Rust regex \w
bool is_numeric(char32_t c);    // Rust char::is_numeric: Nd, Nl, No

void lowercase(NormText& text, BertRules rules);
// NFD, then drop nonspacing marks (Mn), as BertNormalizer's strip_accents / StripAccents.
void strip_accents(NormText& text, BertRules rules);
// How composed characters align: with the whole run they came from (the Python BERT flavour), or
// k-th output with the k-th input. The second matches tokenizers' unicode-normalization-alignments
// except when a composite absorbs a character and a mark of the same run is left over
// ("a\u0328\u0301": Rust gives U+0301 the span [2, 3], this gives [1, 2]); ids are unaffected.
enum class ComposedAlignment { whole_run, in_order };
// NFC with alignments.
void compose_nfc(NormText& text, ComposedAlignment alignment);

enum class NormalForm { nfc, nfd, nfkc, nfkd };
// Unicode normalisation with tokenizers' alignments (unicode-normalization-alignments).
void normalize_form(NormText& text, NormalForm form);

}  // namespace bertscope::tokenizer
