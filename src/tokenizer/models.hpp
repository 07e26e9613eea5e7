// Models: each turns one pre-tokenised piece into tokens, with the semantics of the Hugging
// Face tokenizers model of the same name. Offsets are UTF-8 byte offsets within the piece.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bertscope::tokenizer {

struct ModelToken {
  std::int32_t id;
  std::string value;
  std::size_t begin, end;  // bytes within the piece
};

// Token strings by id and ids by token string. Lookups take string_view without copying.
class Vocabulary {
 public:
  Vocabulary() = default;
  explicit Vocabulary(std::vector<std::string> tokens);  // a token seen twice maps to its last id
  std::optional<std::int32_t> find(std::string_view token) const;
  const std::string* token(std::int32_t id) const;
  std::size_t size() const { return tokens_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::int32_t, Hash, std::equal_to<>> ids_;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual void tokenize(std::string_view piece, std::vector<ModelToken>& out) const = 0;
  virtual const Vocabulary& vocabulary() const = 0;
  // The token for unknown text, if the model has one.
  virtual std::optional<std::string> unk_token() const = 0;
};

class WordPiece : public Model {
 public:
  WordPiece(Vocabulary vocab, std::string unk_token, std::string continuing_subword_prefix,
            std::size_t max_input_chars_per_word);
  void tokenize(std::string_view piece, std::vector<ModelToken>& out) const override;
  const Vocabulary& vocabulary() const override { return vocab_; }
  std::optional<std::string> unk_token() const override { return unk_token_; }

 private:
  Vocabulary vocab_;
  std::string unk_token_;
  std::int32_t unk_id_;
  std::string prefix_;
  std::size_t max_chars_;
};

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::optional<std::string> continuing_subword_prefix;
  std::optional<std::string> end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class Bpe : public Model {
 public:
  // `merges` are pairs of token strings, highest priority first; each must be in the vocabulary,
  // and so must their concatenation. `where` names the source in errors.
  Bpe(Vocabulary vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
      std::string_view where);
  void tokenize(std::string_view piece, std::vector<ModelToken>& out) const override;
  const Vocabulary& vocabulary() const override { return vocab_; }
  std::optional<std::string> unk_token() const override { return options_.unk_token; }

 private:
  struct PairHash {
    std::size_t operator()(std::uint64_t key) const { return std::hash<std::uint64_t>{}(key); }
  };
  struct Merge {
    std::uint32_t rank;
    std::int32_t result;
  };
  Vocabulary vocab_;
  BpeOptions options_;
  std::unordered_map<std::uint64_t, Merge, PairHash> merges_;  // (left id << 32 | right id)
};

class Unigram : public Model {
 public:
  // `pieces` are (token, log probability) in id order.
  Unigram(std::vector<std::pair<std::string, double>> pieces, std::optional<std::int32_t> unk_id, bool byte_fallback,
          std::string_view where);
  void tokenize(std::string_view piece, std::vector<ModelToken>& out) const override;
  const Vocabulary& vocabulary() const override { return vocab_; }
  std::optional<std::string> unk_token() const override;

 private:
  Vocabulary vocab_;
  std::vector<double> scores_;
  std::optional<std::int32_t> unk_id_;
  bool byte_fallback_;
  double min_score_;
  std::size_t max_piece_bytes_ = 0;
};

}  // namespace bertscope::tokenizer
