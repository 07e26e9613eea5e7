// Surface statistics of every head (Clark et al. 2019, section 3; methods.md 1.3): how much
// attention goes to the token itself, the previous and next token, [CLS], [SEP], "." and ",",
// between [SEP]s, and how spread out it is (entropy). Token level, each input weighted equally.
//
// Per input of n tokens and head (l, h), with A the [n, n] map (row = query):
//   self  = 1/n sum_i A[i,i]      prev = 1/n sum_i A[i,i-1]      next = 1/n sum_i A[i,i+1]
//   cls   = 1/n sum_i A[i,CLS]    sep  = 1/n sum_i sum_{j in SEP} A[i,j]
//   punct = 1/n sum_i sum_{j: token j in punct_tokens} A[i,j]
//   sep_to_sep   = 1/|SEP| sum_{i in SEP} sum_{j in SEP} A[i,j]   (Clark: 1/2, pairs have 2 [SEP]s)
//   other_to_sep = 1/(n-|SEP|) sum_{i not in SEP} sum_{j in SEP} A[i,j]   (Clark: 1/(n-2))
//   entropy      = 1/n sum_i H(A'[i,:]),  cls_entropy = H(A'[0,:]),  A' = (1-s) A + s/n, s = 1e-4, nats
// then averaged over inputs. Every row counts, [CLS] and [SEP] rows included.
//
// [CLS] and [SEP] are found by their token strings when the encoding has them, else by word id
// -1 (the first special token is [CLS], the others [SEP]).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/attention_source.hpp"
#include "dist/runner.hpp"
#include "analysis/figure.hpp"

namespace bertscope::analysis::surface {

struct Options {
  std::vector<std::string> punct_tokens{".", ","};  // Clark counts only these two
  double smoothing = 1e-4;                          // entropy: A' = (1 - s) A + s / n
  // Behaviour labels (Clark's Figure 6 code): later rules win, in the order next, prev, broad, cls, sep, punct.
  double position_threshold = 0.5;
  double broad_entropy = 3.8;  // nats; tuned for 128-token segments (ln 128 = 4.85)
  double special_threshold = 0.6;
};

inline constexpr std::size_t kStatCount = 10;
// Field names in results, in the order of HeadStats::values.
const std::vector<std::string>& stat_names();  // self, prev, next, cls, sep, punct, sep_to_sep, other_to_sep, entropy, cls_entropy

struct HeadStats {
  double values[kStatCount] = {};
  double self() const { return values[0]; }
  double prev() const { return values[1]; }
  double next() const { return values[2]; }
  double cls() const { return values[3]; }
  double sep() const { return values[4]; }
  double punct() const { return values[5]; }
  double sep_to_sep() const { return values[6]; }
  double other_to_sep() const { return values[7]; }
  double entropy() const { return values[8]; }
  double cls_entropy() const { return values[9]; }
};

struct Result {
  std::int64_t layers = 0, heads = 0;
  std::vector<HeadStats> stats;     // [layers * heads], layer-major
  std::vector<std::string> labels;  // broad / prev / next / cls / sep / punct / none, per head
  std::vector<HeadStats> layer_means;
  std::size_t inputs = 0;           // inputs averaged over
  std::size_t inputs_with_sep = 0;  // inputs with a [SEP] (sep_to_sep averages over these)
  std::size_t inputs_without_punct_tokens = 0;  // inputs whose encoding had no token strings
  double uniform_entropy = 0;       // mean over inputs of ln n
  double mean_tokens = 0;
  std::size_t skipped_too_long = 0;
};

// A streaming accumulator: memory is O(layers x heads) whatever the corpus size.
class Accumulator {
 public:
  Accumulator(std::int64_t layers, std::int64_t heads, Options options);
  void add(const model::Encoding& encoding, const core::Tensor& attentions);  // [layers, heads, T, T]
  Result result() const;
  // The sums so far as bytes, and adding another accumulator's (of the same shape and options)
  // to these: one block of a run spread over processes (analysis/blocks.hpp).
  std::string save() const;
  void merge(std::string_view saved, const std::string& what);

 private:
  std::int64_t layers_, heads_;
  Options options_;
  std::vector<double> sums_;      // [head][stat]
  std::vector<double> sep_sums_;  // sep_to_sep per head, over inputs with a [SEP]
  std::size_t inputs_ = 0, with_sep_ = 0, without_tokens_ = 0;
  double log_n_ = 0, tokens_ = 0;
};

// The behaviour label of one head's averaged statistics.
std::string head_label_of(const HeadStats& s, const Options& options);

// Runs the source over the inputs. With trace files and inputs that carry text, each trace's
// stored `text` must equal the input's (else Error(format) naming the trace file and
// `data_where(i)`).
// `runner`: spreads the inputs over the run's processes (analysis/blocks.hpp); null: one process.
Result run(AttentionSource& source, const std::vector<AnalysisInput>& inputs, const SourceOptions& source_options,
           const Options& options, const std::function<std::string(std::size_t)>& data_where = {},
           dist::Runner* runner = nullptr);

// The check above, shared with `cluster`: throws when a trace's stored text contradicts the input.
void check_trace_text(const AttentionSource& source, const AttentionExample& example, const AnalysisInput& input,
                      const std::function<std::string(std::size_t)>& data_where);

// The document's parameters: every option that changed the result, and the definitions used.
nlohmann::json params_json(const Options& options);

nlohmann::json to_json(const Result& result);
std::string table(const Result& result);

// The figures these results make (the paper's first); written into the document (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::surface
