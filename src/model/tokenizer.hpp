// WordPiece tokenizer with the semantics of Hugging Face's BERT tokenizers, id for id.
//
// Default: the fast (tokenizers/Rust, `tokenizer.json`-based) BertTokenizerFast pipeline —
// BertNormalizer (clean text, CJK spacing, NFD accent stripping, lower-casing), BertPreTokenizer
// (whitespace and punctuation split), greedy longest-match WordPiece with "##" continuation,
// template post-processing "[CLS] A [SEP] B [SEP]". The `python` flavour reproduces the old
// Python BertTokenizer, which differs only on edge cases (it NFC-normalises input first and
// drops every code point of category C*, unassigned ones included).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bertscope::model {

enum class TokenizerFlavor { fast, python };

struct TokenizerSettings {
  bool lowercase = true;
  std::optional<bool> strip_accents;  // unset: follows `lowercase`, as in Hugging Face
  bool tokenize_chinese_chars = true;
  bool clean_text = true;
  TokenizerFlavor flavor = TokenizerFlavor::fast;
  std::string unk_token = "[UNK]";
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string mask_token = "[MASK]";
  std::string continuing_subword_prefix = "##";
  std::size_t max_input_chars_per_word = 100;
  std::size_t model_max_length = 0;  // 0: not given by the tokenizer files
};

// A token matched in the text before WordPiece and never split (Hugging Face's AddedToken):
// the special tokens, and any other entry of tokenizer.json's `added_tokens`.
struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool single_word = false;  // only match where no word character touches either end
  bool lstrip = false;       // the match swallows the whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool normalized = false;   // matched in the normalised text instead of the raw text
  bool special = true;
};

// One tokenized input (single text or pair), including [CLS]/[SEP].
struct Encoding {
  std::vector<std::int32_t> ids;
  std::vector<std::int32_t> type_ids;      // 0 for [CLS] A [SEP], 1 for B [SEP]
  std::vector<std::string> tokens;         // vocabulary strings, e.g. "##ing"
  std::vector<std::int32_t> word_ids;      // word index within its own segment; -1 for specials
  std::vector<std::int32_t> sequence_ids;  // 0 = text, 1 = text pair, -1 = special token
  // Span of each token in its own segment's input text, in Unicode code points (as Hugging
  // Face offset_mapping) and in UTF-8 bytes; [begin, end), both 0 for special tokens.
  std::vector<std::pair<std::int64_t, std::int64_t>> char_offsets;
  std::vector<std::pair<std::int64_t, std::int64_t>> byte_offsets;
  std::size_t num_truncated = 0;           // tokens removed by truncation (0 when none)

  std::size_t size() const { return ids.size(); }
};

struct EncodeOptions {
  std::size_t max_length = 0;  // 0: no limit; else the longest allowed encoding, specials included
  bool truncate = false;       // false: over-long input is an Error(input); true: longest_first
};

class Tokenizer {
 public:
  // Loads a model folder: `tokenizer.json` when present, else `vocab.txt`; then applies
  // `tokenizer_config.json` (do_lower_case, strip_accents, tokenize_chinese_chars, special
  // tokens, model_max_length) as Hugging Face does. Errors name the file at fault.
  static Tokenizer from_folder(const std::filesystem::path& dir, std::optional<TokenizerFlavor> flavor = {});
  // A vocab.txt with explicit settings.
  static Tokenizer from_vocab(const std::filesystem::path& vocab_txt, const TokenizerSettings& settings);

  // Encodes one UTF-8 text or a pair. Invalid UTF-8 and over-long input (without truncate)
  // throw Error(input); the message gives the length and the limit.
  Encoding encode(std::string_view text, std::optional<std::string_view> pair = {},
                  const EncodeOptions& options = {}) const;
  // Encodes text that is already split into words (like is_split_into_words=True): each word is
  // tokenized on its own and word_ids index `words`; offsets are within each word, as in Hugging Face.
  Encoding encode_words(const std::vector<std::string>& words, const EncodeOptions& options = {}) const;
  // The word pieces of a text, no special tokens.
  std::vector<std::string> tokenize(std::string_view text) const;

  std::optional<std::int32_t> find(std::string_view token) const;
  const std::string& token(std::int32_t id) const;  // throws on out-of-range ids
  std::size_t vocab_size() const { return vocab_.size(); }
  const TokenizerSettings& settings() const { return settings_; }
  const std::vector<AddedToken>& added_tokens() const { return added_tokens_; }
  // How many special tokens the template adds: 2 for "[CLS] A [SEP]", 3 with a pair.
  static std::size_t num_special_tokens(bool pair) { return pair ? 3 : 2; }

  std::int32_t unk_id() const { return unk_id_; }
  std::int32_t cls_id() const { return cls_id_; }
  std::int32_t sep_id() const { return sep_id_; }
  std::int32_t pad_id() const { return pad_id_; }
  std::int32_t mask_id() const { return mask_id_; }

 private:
  // Hashes std::string and std::string_view alike, so WordPiece can look pieces up without
  // building a string for every candidate.
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Segment;  // the tokens of one text, before the special tokens are added

  Tokenizer() = default;
  void finish_loading(const std::filesystem::path& source);
  Segment encode_segment(std::string_view text, const char* what, std::int32_t forced_word) const;
  Encoding assemble(Segment& a, Segment* b, const EncodeOptions& options) const;

  // Implementation details (normaliser, pre-tokeniser, WordPiece, added-token matching) live in
  // tokenizer.cpp; the members below are what every flavour needs.
  TokenizerSettings settings_;
  std::vector<std::string> vocab_;
  std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>> ids_;
  std::vector<std::string> special_tokens_;  // contents of added_tokens_ that are special
  std::vector<AddedToken> added_tokens_;     // matched in the text and never split
  std::vector<std::u32string> added_patterns_;  // per added token: what to match, as code points
  std::int32_t unk_id_ = 0, cls_id_ = 0, sep_id_ = 0, pad_id_ = 0, mask_id_ = 0;
};

}  // namespace bertscope::model
