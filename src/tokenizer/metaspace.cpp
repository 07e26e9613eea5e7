#include "tokenizer/normalizers.hpp"
#include "tokenizer/pre_tokenizers.hpp"

namespace bertscope::tokenizer {

void Metaspace::split(NormText text, std::vector<NormText>& out) const {
  for (auto& ch : text) {
    if (ch.cp == U' ') ch.cp = replacement_;
  }
  const bool starts_with_replacement = !text.empty() && text.front().cp == replacement_;
  // `first` prepends only to the piece that starts the original input.
  const bool prepend_here = scheme_ == PrependScheme::always ||
                            (scheme_ == PrependScheme::first && !text.empty() && text.front().begin == 0);
  if (prepend_here && !starts_with_replacement) prepend(text, std::u32string(1, replacement_));
  if (!split_) {
    out.push_back(std::move(text));
    return;
  }
  const char32_t r = replacement_;
  split_text(text, Pattern::character_class([r](char32_t c) { return c == r; }), SplitBehavior::merged_with_next,
             false, out);
}

}  // namespace bertscope::tokenizer
