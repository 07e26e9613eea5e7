// Regular expressions over code points (PCRE2, 32-bit code units, with UTF and Unicode
// properties), standing in for the Oniguruma patterns of Hugging Face tokenizers.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bertscope::tokenizer {

class Regex {
 public:
  // Throws Error(format) naming `where` (the file and component) when the pattern does not compile.
  Regex(std::string_view pattern, std::string_view where);
  // Every non-overlapping match, left to right, as [begin, end) code point indices.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::u32string_view text) const;

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;
};

// The pattern of GPT-2's byte-level pre-tokenizer.
inline constexpr std::string_view k_gpt2_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace bertscope::tokenizer
