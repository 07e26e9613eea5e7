// Text with alignments, the currency of the tokenizer pipeline (Hugging Face's NormalizedString).
//
// Every normalised code point remembers the span of original code points it came from, so that
// token offsets always point into the input. Insertions take the span of the character before
// them, as tokenizers' `transform` does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bertscope::tokenizer {

struct NormChar {
  char32_t cp;
  std::uint32_t begin;  // original code point span [begin, end)
  std::uint32_t end;
};
using NormText = std::vector<NormChar>;

// Original input: its code points and the byte offset of each (plus the total length).
struct Decoded {
  std::u32string cps;
  std::vector<std::size_t> byte_at;
};

// Decodes UTF-8; invalid input is an Error(input) whose message begins with `what`.
Decoded decode(std::string_view text, std::string_view what);
// Each code point aligned to itself.
NormText aligned_text(const std::u32string& cps);

void append_utf8(std::string& out, char32_t c);
std::string to_utf8(const NormChar* chars, std::size_t n);
inline std::string to_utf8(const NormText& text) { return to_utf8(text.data(), text.size()); }
std::string to_utf8(std::u32string_view cps);
// Decodes valid UTF-8 (as produced by the pipeline itself).
std::u32string to_u32(std::string_view utf8);
inline std::size_t utf8_length(char32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }
std::u32string code_points(const NormText& text);

// tokenizers' NormalizedString::transform over a whole text: each output code point comes with
// `change` = 0 (it replaces the next input character and takes its alignment), 1 (it is inserted
// and takes the alignment of the character before it) or -n (it replaces the next character and
// the n after it are removed). The first `skip` input characters are removed up front.
struct Change {
  char32_t cp;
  int change;
};
NormText transform(const NormText& text, const std::vector<Change>& changes, std::size_t skip = 0);

}  // namespace bertscope::tokenizer
