// The normalisers that need a few lines each: Sequence, StripAccents, Strip, Replace, Prepend.

#include "tokenizer/normalizers.hpp"

namespace bertscope::tokenizer {

void NormalizerSequence::normalize(NormText& text) const {
  for (const auto& step : steps_) step->normalize(text);
}

// tokenizers drops what unicode-normalization-alignments' is_combining_mark calls a mark: M* of
// its older Unicode tables, which differ from utf8proc's on a few hundred code points.
void StripAccents::normalize(NormText& text) const {
  std::erase_if(text, [](const NormChar& ch) { return is_rust_combining_mark(ch.cp); });
}

void Strip::normalize(NormText& text) const {
  std::size_t begin = 0, end = text.size();
  if (left_) {
    while (begin < end && is_white_space(text[begin].cp)) ++begin;
  }
  if (right_) {
    while (end > begin && is_white_space(text[end - 1].cp)) --end;
  }
  text = NormText(text.begin() + static_cast<std::ptrdiff_t>(begin), text.begin() + static_cast<std::ptrdiff_t>(end));
}

// As tokenizers' NormalizedString::replace: the matched characters go and the replacement is
// inserted, aligned with the last matched character.
void Replace::normalize(NormText& text) const {
  const auto pieces = pattern_.find_matches(code_points(text));
  NormText out;
  out.reserve(text.size());
  const std::uint32_t origin = text.empty() ? 0 : text.front().begin;
  for (const auto& piece : pieces) {
    if (!piece.is_match) {
      out.insert(out.end(), text.begin() + static_cast<std::ptrdiff_t>(piece.begin),
                 text.begin() + static_cast<std::ptrdiff_t>(piece.end));
      continue;
    }
    for (char32_t c : content_) {
      if (piece.end == 0) {
        out.push_back({c, origin, origin});
      } else {
        out.push_back({c, text[piece.end - 1].begin, text[piece.end - 1].end});
      }
    }
  }
  text.swap(out);
}

void prepend(NormText& text, std::u32string_view prefix) {
  if (text.empty() || prefix.empty()) return;
  std::vector<Change> changes;
  changes.reserve(prefix.size() + 1);
  for (std::size_t i = 0; i < prefix.size(); ++i) changes.push_back({prefix[i], i == 0 ? 0 : 1});
  changes.push_back({text.front().cp, 1});
  NormText head = transform(NormText(text.begin(), text.begin() + 1), changes);
  text.erase(text.begin());
  text.insert(text.begin(), head.begin(), head.end());
}

void Prepend::normalize(NormText& text) const { prepend(text, prefix_); }

}  // namespace bertscope::tokenizer
