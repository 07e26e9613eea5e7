// Pattern-based pre-tokenisers and the split behaviours they share.
#include "tokenizer/pre_tokenizers.hpp"

namespace bertscope::tokenizer {

void split_text(const NormText& text, const Pattern& pattern, SplitBehavior behavior, bool invert,
                std::vector<NormText>& out) {
  auto pieces = pattern.find_matches(code_points(text));
  if (invert) {
    for (auto& p : pieces) p.is_match = !p.is_match;
  }
  struct Cut {
    std::size_t begin, end;
    bool remove;
  };
  std::vector<Cut> cuts;
  cuts.reserve(pieces.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::isolated:
      for (const auto& p : pieces) cuts.push_back({p.begin, p.end, false});
      break;
    case SplitBehavior::removed:
      for (const auto& p : pieces) cuts.push_back({p.begin, p.end, p.is_match});
      break;
    case SplitBehavior::contiguous:
      for (const auto& p : pieces) {
        if (p.is_match == previous_match && !cuts.empty()) {
          cuts.back().end = p.end;
        } else {
          cuts.push_back({p.begin, p.end, false});
        }
        previous_match = p.is_match;
      }
      break;
    case SplitBehavior::merged_with_previous:
      for (const auto& p : pieces) {
        if (p.is_match && !previous_match && !cuts.empty()) {
          cuts.back().end = p.end;
        } else {
          cuts.push_back({p.begin, p.end, false});
        }
        previous_match = p.is_match;
      }
      break;
    case SplitBehavior::merged_with_next:
      for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
        if (it->is_match && !previous_match && !cuts.empty()) {
          cuts.back().begin = it->begin;
        } else {
          cuts.push_back({it->begin, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(cuts.begin(), cuts.end());
      break;
  }
  for (const auto& c : cuts) {
    if (c.remove || c.begin == c.end) continue;
    out.emplace_back(text.begin() + static_cast<std::ptrdiff_t>(c.begin), text.begin() + static_cast<std::ptrdiff_t>(c.end));
  }
}

void PreTokenizerSequence::split(NormText text, std::vector<NormText>& out) const {
  std::vector<NormText> pieces{std::move(text)}, next;
  for (const auto& step : steps_) {
    next.clear();
    for (auto& p : pieces) step->split(std::move(p), next);
    pieces.swap(next);
  }
  for (auto& p : pieces) out.push_back(std::move(p));
}

void PatternSplit::split(NormText text, std::vector<NormText>& out) const {
  std::vector<NormText> pieces{std::move(text)}, next;
  for (const auto& step : steps_) {
    next.clear();
    for (const auto& p : pieces) split_text(p, step.pattern, step.behavior, step.invert, next);
    pieces.swap(next);
  }
  for (auto& p : pieces) out.push_back(std::move(p));
}

std::unique_ptr<PatternSplit> PatternSplit::bert(BertRules rules) {
  std::vector<Step> steps;
  steps.push_back({Pattern::character_class(rules == BertRules::rust ? &is_white_space : &is_python_split_space),
                   SplitBehavior::removed});
  steps.push_back({Pattern::character_class([rules](char32_t c) { return is_bert_punctuation(c, rules); }),
                   SplitBehavior::isolated});
  return std::make_unique<PatternSplit>(std::move(steps));
}

std::unique_ptr<PatternSplit> PatternSplit::whitespace(std::string_view where) {
  std::vector<Step> steps;
  steps.push_back({Pattern::regex(R"(\w+|[^\w\s]+)", where), SplitBehavior::removed, true});
  return std::make_unique<PatternSplit>(std::move(steps));
}

std::unique_ptr<PatternSplit> PatternSplit::whitespace_split() {
  std::vector<Step> steps;
  steps.push_back({Pattern::character_class(&is_white_space), SplitBehavior::removed});
  return std::make_unique<PatternSplit>(std::move(steps));
}

std::unique_ptr<PatternSplit> PatternSplit::punctuation(SplitBehavior behavior) {
  std::vector<Step> steps;
  steps.push_back({Pattern::character_class(&is_unicode_punctuation), behavior});
  return std::make_unique<PatternSplit>(std::move(steps));
}

std::unique_ptr<PatternSplit> PatternSplit::digits(bool individual_digits) {
  std::vector<Step> steps;
  steps.push_back({Pattern::character_class(&is_numeric),
                   individual_digits ? SplitBehavior::isolated : SplitBehavior::contiguous});
  return std::make_unique<PatternSplit>(std::move(steps));
}

}  // namespace bertscope::tokenizer
