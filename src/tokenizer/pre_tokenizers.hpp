// Pre-tokenisers: each cuts a text into the pieces ("words") that the model then tokenizes, with
// the semantics of the Hugging Face tokenizers component of the same name. Pieces keep their
// alignment with the input; empty pieces are dropped by the pipeline.
#pragma once

#include <memory>
#include <vector>

#include "tokenizer/pattern.hpp"
#include "tokenizer/text.hpp"
#include "tokenizer/unicode.hpp"

namespace bertscope::tokenizer {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Appends the pieces of `text` to `out`.
  virtual void split(NormText text, std::vector<NormText>& out) const = 0;
};

// What becomes of the matched parts of a text (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// tokenizers' NormalizedString::split.
void split_text(const NormText& text, const Pattern& pattern, SplitBehavior behavior, bool invert,
                std::vector<NormText>& out);

class PreTokenizerSequence : public PreTokenizer {
 public:
  explicit PreTokenizerSequence(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void split(NormText text, std::vector<NormText>& out) const override;

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

// Split, Punctuation, Whitespace, WhitespaceSplit, Digits and BertPreTokenizer are all one
// pattern-based cut, or two in a row.
class PatternSplit : public PreTokenizer {
 public:
  struct Step {
    Pattern pattern;
    SplitBehavior behavior;
    bool invert = false;
  };
  explicit PatternSplit(std::vector<Step> steps) : steps_(std::move(steps)) {}
  void split(NormText text, std::vector<NormText>& out) const override;

  static std::unique_ptr<PatternSplit> bert(BertRules rules);
  static std::unique_ptr<PatternSplit> whitespace(std::string_view where);
  static std::unique_ptr<PatternSplit> whitespace_split();
  static std::unique_ptr<PatternSplit> punctuation(SplitBehavior behavior);
  static std::unique_ptr<PatternSplit> digits(bool individual_digits);

 private:
  std::vector<Step> steps_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex);
  void split(NormText text, std::vector<NormText>& out) const override;

 private:
  bool add_prefix_space_;
  std::optional<Pattern> regex_;
};

// GPT-2's map from bytes to printable code points (space is U+0120 'Ġ').
char32_t byte_to_char(unsigned char byte);
// Rewrites every character as the characters of its UTF-8 bytes, each aligned like the character.
NormText to_byte_chars(const NormText& text);

enum class PrependScheme { always, first, never };

class Metaspace : public PreTokenizer {
 public:
  Metaspace(char32_t replacement, PrependScheme scheme, bool split) : replacement_(replacement), scheme_(scheme), split_(split) {}
  void split(NormText text, std::vector<NormText>& out) const override;

 private:
  char32_t replacement_;
  PrependScheme scheme_;
  bool split_;
};

}  // namespace bertscope::tokenizer
