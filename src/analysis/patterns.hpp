// Kovaleva et al.'s five self-attention pattern types (methods.md 2.2): vertical (attention to
// [CLS]/[SEP]), diagonal (to the neighbouring tokens), vertical+diagonal, block (within the own
// sentence of a pair) and heterogeneous (everything else), for every head and input.
//
// The paper's CNN and its ~400 annotated maps were never published, so two classifiers stand
// in for it, both on the map cropped to the input's real tokens:
//   - a transparent rule classifier on measurable features with documented thresholds
//     (classify_rules), and
//   - a learned one (multinomial logistic regression on the same features plus an 8 x 8
//     downsampled map) that users train on maps they label themselves, save as JSON and apply
//     again (LearnedClassifier).
// Neither is the paper's classifier; results say which one ran.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/attention_source.hpp"
#include "analysis/figure.hpp"
#include "model/tokenizer.hpp"

namespace bertscope::analysis::patterns {

enum class PatternClass { vertical, diagonal, vertical_diagonal, block, heterogeneous };
inline constexpr std::size_t kClassCount = 5;
std::string_view class_name(PatternClass c);  // "vertical", "diagonal", "vertical+diagonal", "block", "heterogeneous"
std::optional<PatternClass> parse_class(std::string_view name);

// What each token of an input is: special ([CLS]/[SEP]) or not, and which segment (0 for
// "[CLS] A [SEP]", 1 for "B [SEP]").
struct TokenRoles {
  std::vector<std::uint8_t> special;
  std::vector<std::uint8_t> segment;
  bool pair = false;
  std::int64_t size() const { return static_cast<std::int64_t>(special.size()); }
};
// Special tokens are those outside both segments (sequence id -1); a pair has type ids 1.
TokenRoles token_roles(const model::Encoding& encoding);

// Measurable features of one map A [T, T] (rows = queries, each a distribution). Means are over
// all T rows. The diagonal band is the offsets -1, 0, +1 (a self-attention line is a diagonal
// line in a picture); a cell that is both in the band and in a special token's column counts
// half to `special` and half to `diagonal`, so a short input's [CLS]-neighbour does not tip a
// head either way. special + diagonal + (rest) = 1.
struct MapFeatures {
  double special = 0;   // mean row mass on [CLS]/[SEP] columns outside the band (+ half the overlap)
  double diagonal = 0;  // mean row mass on offsets -1, 0, +1 outside special columns (+ half the overlap)
  double cls = 0, sep = 0;              // mean row mass on [CLS] / on all [SEP]s
  double prev = 0, self = 0, next = 0;  // mean row mass on offsets -1, 0, +1
  // Pairs only (0 for single inputs): of the mass on non-special keys, the share inside the
  // query's own segment, raw and as excess over uniform attention: (w - w_u) / (1 - w_u), where
  // w_u is the share uniform attention over non-special keys would give.
  double within_segment = 0;
  double block = 0;
  double entropy = 0;        // mean row entropy / ln T (1 = uniform), natural log
  double max_column = 0;     // largest column mean: the mass one key receives on average
};
MapFeatures map_features(const float* a, std::int64_t t, const TokenRoles& roles);

// Thresholds of the rule classifier, applied in this order:
//   1. vertical           special >= vertical and diagonal < mix
//   2. diagonal           diagonal >= diagonal and special < mix
//   3. vertical+diagonal  special >= mix and diagonal >= mix and special + diagonal >= mix_total
//   4. block              pair input, block >= block, entropy >= block_entropy (attention spread
//                         over the segment, not a far offset line) and special < vertical
//   5. heterogeneous      otherwise
struct RuleThresholds {
  double vertical = 0.5;
  double diagonal = 0.5;
  double mix = 0.15;
  double mix_total = 0.6;
  double block = 0.6;
  double block_entropy = 0.3;

  nlohmann::json to_json() const;
  // "name=value" for one threshold; Error(input) naming the setting otherwise.
  void set(std::string_view assignment);
};
PatternClass classify_rules(const MapFeatures& f, const RuleThresholds& thresholds);

// The learned classifier's input: the features above, 1/T, the pair flag, and the map
// downsampled to grid x grid cells (area-weighted, rows still sum to 1).
inline constexpr std::int64_t kGrid = 8;
std::vector<double> feature_vector(const float* a, std::int64_t t, const TokenRoles& roles);
std::vector<std::string> feature_names();
// A T x T row-stochastic map averaged onto a grid x grid one: token i covers [i/T, (i+1)/T) of
// the unit square's side; cell (r, c) is the row-weighted mean over the tokens overlapping
// row band r of their mass in the tokens overlapping column band c.
std::vector<double> downsample(const float* a, std::int64_t t, std::int64_t grid);

struct TrainOptions {
  double l2 = 1e-3;        // weight decay on the (standardised) feature weights
  int iterations = 2000;   // full-batch gradient steps
  double learning_rate = 0.5;
};

// Multinomial logistic regression on standardised features.
class LearnedClassifier {
 public:
  static LearnedClassifier train(const std::vector<std::vector<double>>& x, const std::vector<PatternClass>& y,
                                 const TrainOptions& options = {});
  PatternClass predict(const std::vector<double>& x) const;
  std::array<double, kClassCount> probabilities(const std::vector<double>& x) const;

  nlohmann::json to_json() const;
  static LearnedClassifier from_json(const nlohmann::json& j, const std::string& source);
  void save(const std::filesystem::path& path) const;  // atomic
  static LearnedClassifier load(const std::filesystem::path& path);

 private:
  std::vector<double> mean_, scale_;                       // per feature
  std::vector<std::array<double, kClassCount>> weights_;  // per feature
  std::array<double, kClassCount> bias_{};
};

// A map labelled by hand: input index (0-based, in --data order), layer and head (0-based).
struct MapLabel {
  std::size_t input = 0;
  std::int64_t layer = 0, head = 0;
  PatternClass label = PatternClass::heterogeneous;
  std::size_t line = 0;
};
// Reads a labels TSV with the header "input<TAB>layer<TAB>head<TAB>label" (label: a class name
// as class_name() spells it). Errors name FILE:LINE. Duplicate maps are an error.
std::vector<MapLabel> read_map_labels(const std::filesystem::path& path);

// Classification quality of predictions against labels.
struct Agreement {
  double accuracy = 0;
  double macro_f1 = 0;  // mean over the classes present in the labels or the predictions
  std::array<std::array<std::int64_t, kClassCount>, kClassCount> confusion{};  // [label][predicted]
  nlohmann::json to_json() const;
};
Agreement agreement(const std::vector<PatternClass>& labels, const std::vector<PatternClass>& predicted);
// Stratified k-fold cross-validation of the learned classifier: the j-th map of each class goes
// to fold j mod k.
Agreement cross_validate(const std::vector<std::vector<double>>& x, const std::vector<PatternClass>& y, int folds,
                         const TrainOptions& options = {});

// Per-head class counts over a stream of inputs (the paper's per-task shares, Figure 2).
class PatternCounts {
 public:
  PatternCounts(std::int64_t layers, std::int64_t heads);
  // Classifies every head's map of one input (attentions [layers, heads, T, T]) with the
  // learned classifier when given, else the rules.
  // `tokens` (optional) lets the first short map of each type be kept as that type's example.
  void add(const core::Tensor& attentions, const TokenRoles& roles, const RuleThresholds& thresholds,
           const LearnedClassifier* learned, const std::vector<std::string>* tokens = nullptr);
  std::int64_t count(std::int64_t layer, std::int64_t head, PatternClass c) const;
  std::int64_t inputs() const { return inputs_; }
  // {"share": {class: fraction of all maps}, "heads": [...per head counts, shares, majority...],
  //  "class_share": {class: [layers][heads]}, "mean_features": {feature: [layers][heads]}}
  nlohmann::json to_json() const;
  // The counts so far as bytes, and adding those of the inputs that follow (a later block of a
  // run spread over processes, analysis/blocks.hpp): its example maps count only where this has
  // none yet, with their input numbers moved past this one's inputs.
  std::string save() const;
  void merge(std::string_view saved, const std::string& what);

 private:
  std::int64_t layers_, heads_, inputs_ = 0;
  std::vector<std::int64_t> counts_;  // [layer][head][class]
  std::vector<double> feature_sums_;  // [layer][head][feature of MapFeatures]
  // One example map per type (Kovaleva et al.'s Fig. 1): the first of an input of at most
  // kExampleTokens tokens, so the figure stays readable and the document small.
  struct Example {
    std::int64_t input = -1, layer = 0, head = 0;
    std::vector<std::string> tokens;
    std::vector<float> map;  // [T][T]
  };
  std::array<Example, kClassCount> examples_;
};

// The figures these results make (the paper's first); written into the document (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::patterns
