// How attention changes between two models with the same encoder shape and tokenization,
// e.g. pre-trained BERT and its fine-tuned version (Kovaleva et al. 2019, methods.md 2.4 and
// 2.5): per head, the cosine similarity of the two models' maps on identical inputs, averaged
// over inputs; and, for both models side by side, the attention each head gives [CLS], [SEP]
// and punctuation (their Figure 6).
//
// Two ways to flatten a map for the cosine:
//   cropped (default): the T x T map over the input's real tokens;
//   padded:            the S x S map of the input padded with [PAD] to S tokens, as the
//                      paper's code did (S = max_len = 200). Padding keys get no attention,
//                      but padding queries still attend to the real tokens, and those rows
//                      enter the cosine, exactly as in a padded transformers batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/attention_source.hpp"
#include "analysis/figure.hpp"
#include "core/tensor.hpp"
#include "dist/runner.hpp"
#include "model/model.hpp"

namespace bertscope::analysis::compare {

// Error(input) naming both folders unless the encoders have the same number of layers and
// heads and the tokenizers agree (same settings, same vocabulary token for token; the first
// difference is named). Task heads on top may differ.
void check_compatible(const model::Model& a, const model::Model& b);

// Cosine similarity of two vectors in double precision; 1 exactly for identical non-zero
// vectors, 0 when either is all zero.
double cosine(const float* a, const float* b, std::int64_t n);

// Attention to special tokens and punctuation per head, summed over inputs (maps cropped to
// real tokens, rows = queries):
//   cls   = (1/T) sum_i A[i, 0]                               Kovaleva's [CLS] score
//   sep   = max over [SEP] positions s of (1/T) sum_i A[i, s]  Kovaleva's [SEP] score
//   punct = (1/T) sum_i sum_{j: token j is "." or ","} A[i, j]  Clark et al.'s punctuation
class SpecialAttention {
 public:
  SpecialAttention(std::int64_t layers, std::int64_t heads);
  void add(const core::Tensor& attentions, const model::Encoding& encoding);  // [layers, heads, T, T]
  // The same from a trace's attn.probs [heads, S, S] per layer, S >= T (padded maps are cropped
  // to the encoding's T real tokens).
  void add(const model::Trace& trace, const model::Encoding& encoding);
  // {"cls"|"sep"|"punct": {"heads": [layers][heads], "layers": [layers] (mean over heads)}, "inputs": n}
  nlohmann::json to_json() const;
  // The sums so far as bytes, and adding another's (of the same shape): one batch of a run spread
  // over processes.
  std::string save() const;
  void merge(std::string_view saved, const std::string& what);

 private:
  void add_map(std::size_t lh, const float* a, std::int64_t stride, const model::Encoding& encoding);
  std::int64_t layers_, heads_, inputs_ = 0;
  std::vector<double> cls_, sep_, punct_;
};

struct Options {
  std::int64_t pad_to = 0;      // 0: cropped maps; S > 0: maps padded to S tokens
  std::size_t batch_size = 16;
  // A batch ends early once both models' maps hold this many floats (256 MB), so padded maps
  // of long inputs stay within memory; at least one input per batch.
  std::int64_t max_map_floats = std::int64_t{64} << 20;
  bool truncate = false;        // over-long inputs (beyond the model or S): truncate instead of failing
  std::function<void(std::size_t done, std::size_t total)> progress;
  // Names input i in errors, e.g. "data.tsv:12"; default "input i+1".
  std::function<std::string(std::size_t index)> describe;
};

struct Result {
  std::int64_t layers = 0, heads = 0;
  std::size_t inputs = 0;
  std::int64_t pad_to = 0;
  std::vector<double> cosine;  // [layers * heads], mean over inputs
  SpecialAttention special_a, special_b;
  nlohmann::json to_json() const;  // {"cosine": [layers][heads], "cosine_layer_mean", "lowest", "special": {"a", "b"}}
};

// The document's parameters: every option that changed the result, and the definitions used.
nlohmann::json params_json(const Options& options, const Result& result);

// Runs both models on every input (tokenized with A's tokenizer; errors name the input through
// Options::describe) in batches, keeping one batch of maps at a time.
// `runner`: spreads the batches over the run's processes (dist::Runner); null: one process.
Result run(const model::Model& a, const model::Model& b, const std::vector<AnalysisInput>& inputs,
           const Options& options, dist::Runner* runner = nullptr);

// The figures these results make (the paper's first); written into the document (analysis/figure.hpp).
// `model` is the document's model ({"a": {"path": ...}, "b": ...}): the figures name both models.
std::vector<Figure> figures(const nlohmann::json& results, const nlohmann::json& model = nlohmann::json::object());

}  // namespace bertscope::analysis::compare
