// Masked-language-model training data: a tokenized corpus and BERT-style instances
// "[CLS] A [SEP] B [SEP]" (A and B consecutive text split at a sentence boundary, or a single
// segment), 15% of tokens masked with the 80/10/10 scheme. Instance i of step s depends only on
// (seed, s, i), so training resumes on exactly the data it would have seen.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "model/tokenizer.hpp"

namespace bertscope::model {

class MlmCorpus {
 public:
  // Reads UTF-8 text files (Project Gutenberg header and footer removed when present; blank
  // lines separate paragraphs), tokenizes them, and records sentence starts. Each file is a
  // document; instances never cross documents.
  static MlmCorpus from_files(const std::vector<std::filesystem::path>& files, const Tokenizer& tokenizer);

  std::int64_t tokens() const { return static_cast<std::int64_t>(ids_.size()); }
  std::int64_t documents() const { return static_cast<std::int64_t>(doc_starts_.size()) - 1; }
  const std::vector<std::int32_t>& ids() const { return ids_; }
  // Token frequencies, for the unigram baseline.
  std::vector<std::int64_t> counts(std::int64_t vocab_size) const;

  struct Span {
    std::int64_t begin, end;  // token range of the chunk
    std::vector<std::int64_t> boundaries;  // sentence starts strictly inside the chunk
  };
  // A chunk of at most `length` tokens starting at a sentence start chosen by `u` in [0, 1).
  Span chunk(double u, std::int64_t length) const;

 private:
  std::vector<std::int32_t> ids_;
  std::vector<std::int64_t> doc_starts_;       // plus the end
  std::vector<std::int64_t> sentence_starts_;  // sorted, global positions
};

// How the selected positions are corrupted: BERT's training scheme (80% [MASK], 10% a random
// token, 10% unchanged), or every one replaced by the mask token (the evaluation protocol,
// model/mlm_eval.hpp). The positions chosen are the same under both.
enum class MaskScheme { bert_80_10_10, all_mask };

struct MlmInstanceOptions {
  std::int64_t seq_len = 128;
  double mask_prob = 0.15;
  double single_segment_prob = 0.1;  // otherwise a sentence pair
  // false: every instance is one segment (models with one token type: RoBERTa's full sentences).
  bool segment_pairs = true;
  std::uint64_t seed = 0;
  MaskScheme scheme = MaskScheme::bert_80_10_10;
};

struct MlmInstance {
  std::vector<std::int32_t> ids, type_ids;
  std::vector<std::int32_t> positions;  // masked positions
  std::vector<std::int32_t> labels;     // original ids at those positions
};

MlmInstance make_mlm_instance(const MlmCorpus& corpus, const Tokenizer& tokenizer, const MlmInstanceOptions& options,
                              std::int64_t step, std::int64_t index);

// The text of a Project Gutenberg file between its "*** START OF" and "*** END OF" lines
// (the whole text when there are none).
std::string strip_gutenberg(const std::string& text);

}  // namespace bertscope::model
