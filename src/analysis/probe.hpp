// Attention-based probing classifiers for dependency parsing (Clark et al. 2019, section 5,
// Table 3; methods.md 1.7), trained on one CoNLL-U file and evaluated as UAS on another.
//
// Features: the word-level maps of every head and their transposes, K = 2 x layers x heads maps
// M_k (k < layers x heads: M_k = B_k, attention from the dependent to the candidate head; then
// M_k = B_k^T, attention from the candidate to the dependent). For dependent i the candidates are
// ROOT (column 0) and every word c (column c + 1, the dependent itself included). ROOT's feature
// is r_k(i) = a M_k[i, CLS] + b M_k[i, SEP] with two learned scalars a, b shared by all maps.
//
//   attn:        s(i, c) = sum_k w_k F_k(i, c)
//   attn_words:  s(i, c) = sum_k g_k(i, c) F_k(i, c),  g(i, c) = W [v_i ; v_c] + bias, v = fixed
//                word vectors (lower-cased lookup, zeros when missing; ROOT's vector is zeros)
//   distances:   s(i, c) = w2 . tanh(W1 [d(i, c) ; v_i ; v_c] + b1) + b2, with the 8 distance
//                features of Clark's code (forward/backward distance / m, offset 0, -1, +1, -2, +2
//                indicators, ROOT indicator); no attention.
// Training: softmax over the m + 1 candidates of each word, summed cross-entropy per sentence,
// Adam (lr 0.002, TensorFlow's defaults otherwise), one sentence per step, the training file in
// order, Glorot-uniform initial weights from a seeded generator (TensorFlow's default
// initialisers). Evaluation: UAS over words whose relation is not punct; argmax per word, no
// tree constraint.
//
// `shifted_words` reproduces a quirk of Clark's code (their 78.0 UAS): the pair vectors are
// built with ROOT's zero vector appended last while the attention features put ROOT first, so
// candidate column j uses the vector of word j (ROOT uses word 0's, the last word zeros).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/attention_source.hpp"
#include "analysis/figure.hpp"
#include "analysis/word_attention.hpp"
#include "io/conllu.hpp"
#include "io/npz.hpp"

namespace bertscope::analysis::probe {

enum class Kind { attn, attn_words, distances };
std::string_view kind_name(Kind kind);      // "attn", "attn_words", "distances"
Kind parse_kind(std::string_view name);     // also accepts "attn+words"; throws Error(input)
bool uses_words(Kind kind);
bool uses_attention(Kind kind);

struct Options {
  std::vector<Kind> kinds{Kind::attn};
  FromWord from = FromWord::mean;
  double learning_rate = 0.002;
  std::size_t epochs = 1;
  std::uint64_t seed = 0;
  bool shifted_words = false;
  std::size_t hidden = 256;  // distances MLP
};

// Word vectors (GloVe text format: "word v1 ... vd" per line; a word2vec "count dim" first line is
// skipped), keeping only the words asked for.
struct WordVectors {
  std::size_t dim = 0;
  std::unordered_map<std::string, std::vector<float>> vectors;
  std::size_t lines = 0;  // vectors in the file
  const float* find(const std::string& lowercase_word) const;
};
WordVectors read_word_vectors(const std::filesystem::path& path, const std::set<std::string>& wanted);
std::string lowercase(std::string_view word);  // ASCII lower-casing, as GloVe lookups do
// The lower-cased forms of every word of some treebanks: what read_word_vectors needs to keep.
std::set<std::string> lowercase_words(const std::vector<io::ConlluSentence>& sentences);

// One sentence prepared for the probes.
struct Example {
  std::int64_t words = 0;           // m
  std::int64_t maps = 0;            // K (0 when no probe uses attention)
  std::vector<float> features;      // [m, m + 2, K]: M_k[i, j] for j = [CLS], w1 .. wm, [SEP]
  std::vector<int> heads;           // gold, 0 = ROOT, 1-based words
  std::vector<char> punct;          // relation punct: not scored
  std::vector<const float*> vectors;  // per word, null = zeros
};
// maps: [layers, heads, m + 2, m + 2] word-level maps (empty when no attention is needed).
Example make_example(const core::Tensor& maps, const io::ConlluSentence& sentence, const WordVectors* vectors);

class Probe {
 public:
  Probe(Kind kind, std::int64_t layers, std::int64_t heads, std::size_t word_dim, const Options& options);
  Kind kind() const { return kind_; }
  // Candidate scores [m, m + 1] (column 0 = ROOT).
  void scores(const Example& example, std::vector<double>& out) const;
  // Loss (summed cross-entropy) and its gradient with respect to every parameter (added to `grad`).
  double loss_and_gradient(const Example& example, std::vector<double>& grad) const;
  // One Adam step on one sentence; returns its loss.
  double train_step(const Example& example);
  std::vector<double>& parameters() { return params_; }
  const std::vector<double>& parameters() const { return params_; }
  nlohmann::json head_weights() const;  // learned per-head weights (attention probes)
  // Writes the weights as "<kind>.<array>" members (see docs/analyses/clark.md).
  void save(io::NpzWriter& npz) const;

 private:
  std::size_t column_vector(std::size_t column, std::size_t m) const;  // word index, or SIZE_MAX for zeros
  Kind kind_;
  std::int64_t layers_, heads_, k_;
  std::size_t dim_, hidden_;
  Options options_;
  std::vector<double> params_, adam_m_, adam_v_;
  std::int64_t step_ = 0;
};

struct ProbeResult {
  Kind kind = Kind::attn;
  double uas = 0;              // punct excluded
  double uas_with_punct = 0;
  double train_loss = 0;       // mean per training word over the last epoch
  nlohmann::json head_weights;
};

struct Result {
  std::int64_t layers = 0, heads = 0;
  Options options;
  std::vector<ProbeResult> probes;
  double right_branching_uas = 0;  // offset +1 baseline on the dev set, punct excluded
  std::size_t train_sentences = 0, train_words = 0, dev_sentences = 0, dev_words = 0;  // dev_words: scored (non-punct)
  std::size_t skipped_too_long = 0, skipped_words_without_tokens = 0;
  std::size_t word_vectors_found = 0, word_vectors_missing = 0;  // distinct lower-cased words
};

// Trains every probe of options.kinds on `train` (streamed from train_source) and evaluates on
// `dev`. Weights go to `weights_out` (.npz) when it is not empty. Under mpirun the attention
// passes are spread over the processes a window of sentences at a time and every process trains
// alike on the windows' maps, in sentence order (the result is the one-process result); nothing is
// kept for --resume, since a probe's state depends on every sentence before it.
Result run(AttentionSource& train_source, const std::vector<io::ConlluSentence>& train, const std::string& train_file,
           AttentionSource& dev_source, const std::vector<io::ConlluSentence>& dev, const std::string& dev_file,
           const WordVectors* vectors, const SourceOptions& source_options, const Options& options,
           const std::filesystem::path& weights_out = {});

// The document's parameters: every option that changed the result, and the definitions used.
// `word_vectors` names the vectors file of the distances probe ("" when none).
nlohmann::json params_json(const Options& options, const std::string& word_vectors);

nlohmann::json to_json(const Result& result);
std::string table(const Result& result);

// The figures these results make (the paper's first); written into the document (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::probe
