// What a Split pre-tokenizer or a Replace normaliser looks for (tokenizers' Pattern): a literal
// string, a regular expression, or a character class. find_matches covers the whole text with
// alternating unmatched and matched pieces, as tokenizers' find_matches does.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.hpp"

namespace bertscope::tokenizer {

struct PatternPiece {
  std::size_t begin, end;  // code point indices
  bool is_match;
};

class Pattern {
 public:
  static Pattern literal(std::string_view text);
  static Pattern regex(std::string_view pattern, std::string_view where);
  static Pattern character_class(std::function<bool(char32_t)> predicate);

  std::vector<PatternPiece> find_matches(std::u32string_view text) const;

 private:
  std::u32string literal_;
  std::optional<Regex> regex_;
  std::function<bool(char32_t)> predicate_;
};

}  // namespace bertscope::tokenizer
