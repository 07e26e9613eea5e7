// The model layer's tokenizer: loads a model folder's tokenizer files into the Hugging Face
// tokenizers pipeline of src/tokenizer and names its special tokens.
//
// A folder is read as transformers reads it: `tokenizer.json` when present; else `vocab.txt`
// (BertConverter), `vocab.json` + `merges.txt` (RobertaConverter) or `sentencepiece.bpe.model` /
// `spiece.model` (XLMRobertaConverter); then `tokenizer_config.json` (special tokens,
// model_max_length, and for BERT pipelines do_lower_case, strip_accents, tokenize_chinese_chars).
// The `python` flavour reproduces the old Python BertTokenizer in the BERT normaliser and
// pre-tokeniser, which differs only on edge cases (it NFC-normalises input first and drops
// every code point of category C*, unassigned ones included).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/encoding.hpp"
#include "tokenizer/pipeline.hpp"

namespace bertscope::model {

using tokenizer::AddedToken;
using tokenizer::EncodeOptions;
using tokenizer::Encoding;
using tokenizer::TokenRole;

enum class TokenizerFlavor { fast, python };

// Special token strings and, for BERT pipelines, the normaliser's settings.
struct TokenizerSettings {
  bool lowercase = true;
  std::optional<bool> strip_accents;  // unset: follows `lowercase`, as in Hugging Face
  bool tokenize_chinese_chars = true;
  bool clean_text = true;
  TokenizerFlavor flavor = TokenizerFlavor::fast;
  std::string unk_token = "[UNK]";
  std::string cls_token = "[CLS]";  // <s> for RoBERTa-style tokenizers (their bos)
  std::string sep_token = "[SEP]";  // </s> (their eos)
  std::string pad_token = "[PAD]";
  std::string mask_token = "[MASK]";
  std::string continuing_subword_prefix = "##";
  std::size_t max_input_chars_per_word = 100;
  std::size_t model_max_length = 0;  // 0: not given by the tokenizer files
};

class Tokenizer {
 public:
  // Loads a model folder (see above). Errors name the file at fault.
  static Tokenizer from_folder(const std::filesystem::path& dir, std::optional<TokenizerFlavor> flavor = {});
  // A vocab.txt with explicit settings (BERT pipeline).
  static Tokenizer from_vocab(const std::filesystem::path& vocab_txt, const TokenizerSettings& settings);
  // Whether `dir` holds any tokenizer file from_folder reads.
  static bool folder_has_tokenizer(const std::filesystem::path& dir);

  // Encodes one UTF-8 text or a pair. Invalid UTF-8 and over-long input (without truncate)
  // throw Error(input); the message gives the length and the limit.
  Encoding encode(std::string_view text, std::optional<std::string_view> pair = {},
                  const EncodeOptions& options = {}) const;
  // Encodes text that is already split into words (like is_split_into_words=True): each word is
  // tokenized on its own and word_ids index `words`; offsets are within each word, as in Hugging Face.
  Encoding encode_words(const std::vector<std::string>& words, const EncodeOptions& options = {}) const;
  // Joins segments tokenized elsewhere (a, or a pair) with the special tokens and type ids that
  // encode() would add.
  Encoding combine(Encoding a, std::optional<Encoding> b = {}, const EncodeOptions& options = {}) const {
    return pipeline_->combine(std::move(a), std::move(b), options);
  }
  // The tokens of a text, no special tokens.
  std::vector<std::string> tokenize(std::string_view text) const;

  std::optional<std::int32_t> find(std::string_view token) const;
  const std::string& token(std::int32_t id) const;  // throws on out-of-range ids
  std::size_t vocab_size() const { return pipeline_->vocab_size(); }
  // Throws Error(model) naming `dir` when the tokenizer has ids the model's embedding lacks.
  void check_vocab_size(std::int64_t model_vocab_size, const std::filesystem::path& dir) const;
  const TokenizerSettings& settings() const { return settings_; }
  const std::vector<AddedToken>& added_tokens() const { return pipeline_->added_tokens(); }
  // How many special tokens the post-processor adds: 2 for "[CLS] A [SEP]" or "<s> A </s>"; with
  // a pair 3 for BERT, 4 for RoBERTa ("<s> A </s></s> B </s>").
  std::size_t num_special_tokens(bool pair) const { return pipeline_->num_special_tokens(pair); }
  // The files of the folder it was read from (tokenizer.json, vocab.json + merges.txt, the
  // SentencePiece model, tokenizer_config.json, ...), to copy beside a model trained from it;
  // empty for from_vocab.
  const std::vector<std::filesystem::path>& files() const { return files_; }
  // The role of a token id (ordinary for all but the special tokens).
  TokenRole role(std::int32_t id) const;

  std::int32_t unk_id() const { return unk_id_; }
  std::int32_t cls_id() const { return cls_id_; }
  std::int32_t sep_id() const { return sep_id_; }
  std::int32_t pad_id() const { return pad_id_; }
  std::int32_t mask_id() const { return mask_id_; }

 private:
  Tokenizer() = default;
  void name_special_tokens(const std::filesystem::path& source);

  TokenizerSettings settings_;
  std::shared_ptr<tokenizer::Pipeline> pipeline_;
  std::vector<std::filesystem::path> files_;
  std::int32_t unk_id_ = 0, cls_id_ = 0, sep_id_ = 0, pad_id_ = 0, mask_id_ = 0;
};

}  // namespace bertscope::model
