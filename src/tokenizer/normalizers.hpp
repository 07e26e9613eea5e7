// Normalisers: each rewrites the text and keeps every character aligned with the input, with
// the semantics of the Hugging Face tokenizers component of the same name.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/pattern.hpp"
#include "tokenizer/text.hpp"
#include "tokenizer/unicode.hpp"

namespace bertscope::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormText& text) const = 0;
};

class NormalizerSequence : public Normalizer {
 public:
  explicit NormalizerSequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(NormText& text) const override;

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

struct BertNormalizerOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  std::optional<bool> strip_accents;  // unset: follows lowercase
  bool lowercase = true;
  BertRules rules = BertRules::rust;  // python: the old BertTokenizer (NFC first, drops all C*)
};

class BertNormalizer : public Normalizer {
 public:
  explicit BertNormalizer(BertNormalizerOptions options) : options_(options) {}
  void normalize(NormText& text) const override;

 private:
  BertNormalizerOptions options_;
};

class UnicodeNormalizer : public Normalizer {  // NFC, NFD, NFKC, NFKD
 public:
  explicit UnicodeNormalizer(NormalForm form) : form_(form) {}
  void normalize(NormText& text) const override { normalize_form(text, form_); }

 private:
  NormalForm form_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(NormText& text) const override { lowercase(text, BertRules::rust); }
};

class StripAccents : public Normalizer {  // drops combining marks (Mn, Mc, Me; Rust tables); no decomposition
 public:
  void normalize(NormText& text) const override;
};

class Strip : public Normalizer {  // leading and/or trailing whitespace
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormText& text) const override;

 private:
  bool left_, right_;
};

class Replace : public Normalizer {
 public:
  Replace(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(to_u32(content)) {}
  void normalize(NormText& text) const override;

 private:
  Pattern pattern_;
  std::u32string content_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(to_u32(prefix)) {}
  void normalize(NormText& text) const override;

 private:
  std::u32string prefix_;
};

// tokenizers' prepend: the prefix takes the alignment of the first character.
void prepend(NormText& text, std::u32string_view prefix);

// SentencePiece's precompiled normalisation rules (a darts-clone double-array trie over UTF-8
// keys, then the replacement strings), as tokenizers' Precompiled applies them per grapheme.
class Precompiled : public Normalizer {
 public:
  // `charsmap` is the raw blob (already base64-decoded); `where` names the source in errors.
  Precompiled(std::string charsmap, std::string_view where);
  void normalize(NormText& text) const override;
  // The replacement for `key` (the value of its shortest prefix in the trie), if any.
  std::optional<std::string_view> transform(std::string_view key) const;

 private:
  std::vector<std::uint32_t> trie_;
  std::string normalized_;
};

}  // namespace bertscope::tokenizer
