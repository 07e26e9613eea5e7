#include "tokenizer/pattern.hpp"

#include "tokenizer/text.hpp"

namespace bertscope::tokenizer {

Pattern Pattern::literal(std::string_view text) {
  Pattern p;
  p.literal_ = to_u32(text);
  return p;
}

Pattern Pattern::regex(std::string_view pattern, std::string_view where) {
  Pattern p;
  p.regex_.emplace(pattern, where);
  return p;
}

Pattern Pattern::character_class(std::function<bool(char32_t)> predicate) {
  Pattern p;
  p.predicate_ = std::move(predicate);
  return p;
}

std::vector<PatternPiece> Pattern::find_matches(std::u32string_view text) const {
  if (text.empty()) return {{0, 0, false}};
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  if (regex_) {
    matches = regex_->find_all(text);
  } else if (predicate_) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (predicate_(text[i])) matches.emplace_back(i, i + 1);
    }
  } else if (!literal_.empty()) {
    for (std::size_t at = text.find(literal_); at != std::u32string_view::npos; at = text.find(literal_, at + literal_.size())) {
      matches.emplace_back(at, at + literal_.size());
    }
  }
  std::vector<PatternPiece> out;
  std::size_t previous = 0;
  for (auto [begin, end] : matches) {
    if (previous != begin) out.push_back({previous, begin, false});
    out.push_back({begin, end, true});
    previous = end;
  }
  if (previous != text.size()) out.push_back({previous, text.size(), false});
  return out;
}

}  // namespace bertscope::tokenizer
