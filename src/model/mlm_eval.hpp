// Held-out masked-language-model evaluation, defined once for `train mlm` and `evaluate mlm`.
//
// Protocol: the held-out text is cut into sequences exactly as training cuts it
// (make_mlm_instance at step 0, index i, with the evaluation seed); round(mask_prob * n) of the
// n non-special positions of each sequence are selected, and EVERY selected position is
// replaced by the model's mask token. Accuracy is top-1 correct over those positions, loss the
// mean cross-entropy (nats) over them. The unigram baseline scores the same positions from the
// training corpus's token frequencies: add-one smoothed probabilities for its loss, and always
// guessing the most frequent ordinary (non-special) token for its accuracy.
//
// BERT's 80/10/10 corruption (10% of the selected positions keep their token, 10% get a random
// one) makes a figure that counts copies and near-copies as predictions; it is available on the
// same positions, under its own name, and never mixed into the figures above.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.hpp"
#include "model/model.hpp"
#include "model/pretraining.hpp"
#include "model/tokenizer.hpp"

namespace bertscope::model {

struct MlmEvalOptions {
  std::int64_t sequences = 1024;
  std::int64_t seq_len = 128;
  double mask_prob = 0.15;
  double single_segment_prob = 0.1;  // as training: otherwise a sentence pair
  std::uint64_t seed = 0;      // the protocol's fixed seed; independent of any training seed
  bool bert_masking = false;   // also score the same positions with 80/10/10 inputs
  std::int64_t batch = 32;
};

// Sum of cross-entropies and number of top-1 hits over some predictions.
struct MlmTally {
  double loss_sum = 0;
  std::int64_t correct = 0, count = 0;
  double loss() const { return count ? loss_sum / static_cast<double>(count) : 0.0; }
  double accuracy() const { return count ? static_cast<double>(correct) / static_cast<double>(count) : 0.0; }
};

// Adds the predictions of logits [k, vocab] for labels [k] (float64 log-sum-exp; a tie for the
// maximum counts as correct only when the label is the first maximal id).
void tally_mlm_logits(MlmTally& tally, const core::Tensor& logits, std::span<const std::int32_t> labels);

// Add-one smoothed token frequencies of a corpus: p(t) = (count(t) + 1) / (N + V).
class UnigramBaseline {
 public:
  UnigramBaseline(const MlmCorpus& corpus, const Tokenizer& tokenizer, std::int64_t vocab_size);
  double neg_log_prob(std::int32_t id) const;
  std::int32_t guess() const { return guess_; }  // most frequent ordinary token
  std::int64_t corpus_tokens() const { return total_; }

 private:
  std::vector<std::int64_t> counts_;
  std::int64_t total_ = 0;
  std::int32_t guess_ = 0;
};

struct MlmEvalResult {
  std::int64_t sequences = 0;
  std::int64_t tokens = 0;                // all tokens of the sequences, [CLS]/[SEP] included
  std::int64_t candidate_positions = 0;   // non-special positions the selection drew from
  bool segment_pairs = true;
  MlmTally model;                         // inputs with every selected position masked
  std::optional<MlmTally> unigram;
  std::int32_t unigram_guess = 0;
  std::int64_t unigram_corpus_tokens = 0;
  std::optional<MlmTally> bert_masking;   // the same positions, BERT's 80/10/10 inputs
  std::int64_t bert_masked = 0, bert_random = 0, bert_kept = 0;
};

// The evaluated sequences (ids with the selected positions corrupted by `scheme`). Models with
// one token type get single segments, as in training.
std::vector<MlmInstance> mlm_eval_instances(const MlmCorpus& held_out, const Tokenizer& tokenizer,
                                            const ModelConfig& config, const MlmEvalOptions& options,
                                            MaskScheme scheme = MaskScheme::all_mask);

// Error(input) naming the architecture when the model has no masked-LM head.
void require_mlm_head(const Model& model);

// Runs the protocol. `unigram_corpus` (the training corpus) adds the baseline. `progress` gets the number of sequences done.
MlmEvalResult evaluate_mlm(const Model& model, const Tokenizer& tokenizer, const MlmCorpus& held_out,
                           const MlmCorpus* unigram_corpus, const MlmEvalOptions& options,
                           const std::function<void(std::int64_t)>& progress = {});

// The report object (train_report.json's "held_out", evaluate's document) without file names:
// every figure with what it counts.
nlohmann::json mlm_eval_json(const MlmEvalResult& result, const MlmEvalOptions& options, const Tokenizer& tokenizer);

// The evaluated instances as an .npz for an independent check: input_ids and token_type_ids
// [sequences, longest] (padded with the pad id), lengths [sequences], and per evaluated position
// sequence, position and label [positions]; with bert_masking also bert_input_ids.
void write_mlm_eval_instances(const std::filesystem::path& path, const MlmCorpus& held_out, const Tokenizer& tokenizer,
                              const ModelConfig& config, const MlmEvalOptions& options);

}  // namespace bertscope::model
