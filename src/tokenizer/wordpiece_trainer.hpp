// Learning a WordPiece vocabulary from text the way Hugging Face tokenizers' WordPieceTrainer
// does: a BPE trainer whose pieces inside a word carry the "##" prefix, its vocabulary then read
// as WordPiece. Text goes through BertNormalizer and BertPreTokenizer first, so the vocabulary
// fits the pipeline that will use it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/normalizers.hpp"
#include "tokenizer/pre_tokenizers.hpp"

namespace bertscope::tokenizer {

// The defaults are those of tokenizers' BertWordPieceTokenizer.train.
struct WordPieceTrainerOptions {
  std::size_t vocab_size = 30000;
  std::uint64_t min_frequency = 2;                // a merge needs a pair seen at least this often
  std::optional<std::size_t> limit_alphabet = 1000;  // keep only the most frequent characters
  std::vector<char32_t> initial_alphabet;         // kept whatever the corpus says
  std::vector<std::string> special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  std::string continuing_subword_prefix = "##";
  // The order in which the prefixed characters ("##e") take their ids; characters it omits
  // follow in code-point order. Hugging Face's trainer takes the order of a hash map seeded
  // afresh in every process (so its merges differ between runs wherever pair counts tie);
  // replaying one of its runs needs that run's order. Empty: code-point order.
  std::vector<std::string> prefixed_alphabet_order;
};

// Progress of a long stage: `stage` names it, `done` of `total` items (bytes, words, tokens).
using TrainProgressFn = std::function<void(std::string_view stage, std::size_t done, std::size_t total)>;

// Counts the words of a corpus as the trainer sees them: each line normalised by BertNormalizer
// (lowercase: lower-cased and accents stripped; else both kept) and cut by BertPreTokenizer.
// Only the counts are kept, so memory grows with the number of distinct words, not the corpus.
class WordCounter {
 public:
  explicit WordCounter(bool lowercase);
  // One piece of text; invalid UTF-8 throws Error(input) whose message begins with `what`.
  void add_text(std::string_view text, std::string_view what);
  // A UTF-8 text file line by line, Project Gutenberg header and footer left out. A missing file
  // is an Error(io), invalid UTF-8 an Error(input) naming file and line. `progress` gets bytes.
  void add_file(const std::filesystem::path& file, const TrainProgressFn& progress = {});
  // Several files; all must exist before any is read, so a mistyped name fails at once.
  void add_files(const std::vector<std::filesystem::path>& files, const TrainProgressFn& progress = {});
  const std::unordered_map<std::string, std::uint64_t>& counts() const { return counts_; }

 private:
  BertNormalizer normalizer_;
  std::unique_ptr<PatternSplit> pre_tokenizer_;
  std::vector<NormText> pieces_;
  std::unordered_map<std::string, std::uint64_t> counts_;
};

// The trained vocabulary in id order: special tokens, the alphabet in code-point order, the
// prefixed alphabet, then one token per merge in the order merges were made. Throws
// Error(input) when the special tokens and alphabets alone exceed vocab_size.
std::vector<std::string> train_wordpiece(const std::unordered_map<std::string, std::uint64_t>& word_counts,
                                         const WordPieceTrainerOptions& options, const TrainProgressFn& progress = {});

// Throws Error(input) unless `special_tokens` holds [UNK], [CLS] and [SEP], which the BERT
// tokenizer.json needs: a check to make before a long training run.
void check_bert_special_tokens(const std::vector<std::string>& special_tokens);

// A BERT tokenizer.json for `vocab`, as transformers' BertConverter writes it: BertNormalizer,
// BertPreTokenizer, WordPiece (prefix, 100 characters per word, "[UNK]"), "[CLS] $A [SEP]" /
// "[CLS] $A [SEP] $B:1 [SEP]:1", the special tokens as added tokens, a WordPiece decoder.
// The vocabulary must hold [UNK], [CLS] and [SEP] (Error(input) otherwise).
nlohmann::ordered_json bert_tokenizer_json(const std::vector<std::string>& vocab, bool lowercase,
                                   const std::vector<std::string>& special_tokens,
                                   const std::string& continuing_subword_prefix = "##");

// Writes DIR/vocab.txt (one token a line, id order) and DIR/tokenizer.json, each atomically;
// both are checked before either is written.
void write_wordpiece_vocabulary(const std::filesystem::path& dir, const std::vector<std::string>& vocab,
                                bool lowercase, const std::vector<std::string>& special_tokens,
                                const std::string& continuing_subword_prefix = "##");

}  // namespace bertscope::tokenizer
