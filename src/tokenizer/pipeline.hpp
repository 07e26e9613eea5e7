// The tokenizer pipeline of Hugging Face tokenizers: added tokens are cut out of the text, the
// rest is normalised, pre-tokenised into words and tokenized by the model; a post-processor adds
// the special tokens. Components are read from tokenizer.json (load.hpp) or built by the
// converters for folders without one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/encoding.hpp"
#include "tokenizer/models.hpp"
#include "tokenizer/normalizers.hpp"
#include "tokenizer/post_processors.hpp"
#include "tokenizer/pre_tokenizers.hpp"

namespace bertscope::tokenizer {

// A token matched in the text before the model and never split (Hugging Face's AddedToken).
struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool single_word = false;  // only match where no word character touches either end
  bool lstrip = false;       // the match swallows the whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool normalized = false;   // matched in the normalised text instead of the raw text
  bool special = true;
};

struct EncodeOptions {
  std::size_t max_length = 0;  // 0: no limit; else the longest allowed encoding, specials included
  bool truncate = false;       // false: over-long input is an Error(input); true: longest_first
};

class Pipeline {
 public:
  Pipeline(std::unique_ptr<Normalizer> normalizer, std::unique_ptr<PreTokenizer> pre_tokenizer,
           std::unique_ptr<Model> model, std::unique_ptr<PostProcessor> post_processor,
           std::vector<AddedToken> added_tokens);

  // Encodes one UTF-8 text or a pair, special tokens included. Invalid UTF-8 and over-long input
  // (without truncate) throw Error(input).
  Encoding encode(std::string_view text, std::optional<std::string_view> pair = {},
                  const EncodeOptions& options = {}) const;
  // Text already split into words (is_split_into_words): each word is encoded on its own, word
  // ids index `words` and offsets are within each word.
  Encoding encode_words(const std::vector<std::string>& words, const EncodeOptions& options = {}) const;
  // Joins already tokenized segments (one, or a pair) as encode does: truncation, then the
  // post-processor's special tokens and type ids, then roles.
  Encoding combine(Encoding a, std::optional<Encoding> b = {}, const EncodeOptions& options = {}) const;
  // One segment without special tokens; `what` names the text in errors.
  Encoding encode_segment(std::string_view text, std::string_view what, std::int32_t forced_word = -1) const;

  std::optional<std::int32_t> find(std::string_view token) const;
  const std::string* token(std::int32_t id) const;
  // Model vocabulary plus added tokens beyond it.
  std::size_t vocab_size() const;
  std::size_t num_special_tokens(bool pair) const { return post_processor_ ? post_processor_->added_tokens(pair) : 0; }
  const std::vector<AddedToken>& added_tokens() const { return added_tokens_; }
  // Tokens of this id get `role` in every encoding.
  void set_role(std::int32_t id, TokenRole role) { roles_[id] = role; }

 private:
  struct Split {
    NormText text;
    std::int32_t added = -1;  // index into added_tokens_, or -1 for text to pre-tokenize
  };
  void cut_added(NormText text, bool normalized_pass, std::vector<Split>& out) const;
  Encoding finish(std::vector<Encoding> segments, const EncodeOptions& options) const;

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::vector<AddedToken> added_tokens_;
  std::vector<std::u32string> added_patterns_;  // per added token, normalised if it is matched normalised
  std::unordered_map<std::int32_t, std::string> added_by_id_;
  std::unordered_map<std::string, std::int32_t> added_by_content_;
  std::unordered_map<std::int32_t, TokenRole> roles_;
};

}  // namespace bertscope::tokenizer
