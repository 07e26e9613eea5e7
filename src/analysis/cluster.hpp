// Head clustering (Clark et al. 2019, section 6, Figure 6; methods.md 1.8): the distance between
// two heads is the Jensen-Shannon divergence of their attention rows, summed over every query
// token of every input, and the heads are laid out in 2-D by metric MDS of those distances.
//
//   p' = (1 - s) p + s / n  (s = 0.001, n = tokens of the input; Clark's head_distances.py)
//   JS(p, q) = 1/2 KL(p' || m) + 1/2 KL(q' || m),  m = (p' + q') / 2,  natural log
//   D(a, b) = sum over inputs, sum over query rows i of JS(A_a[i, :], A_b[i, :])
//
// A plain sum, no square root, no averaging (Clark's code); `rows` in the result lets a reader
// divide for the average. One streaming pass: memory is O(heads^2) plus one input's maps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/attention_source.hpp"
#include "dist/runner.hpp"
#include "analysis/figure.hpp"
#include "analysis/mds.hpp"

namespace bertscope::analysis::cluster {

struct Options {
  double smoothing = 0.001;
  MdsOptions mds;
};

struct Result {
  std::int64_t layers = 0, heads = 0;
  std::vector<double> distances;  // [N, N], N = layers * heads, layer-major; symmetric, zero diagonal
  std::size_t inputs = 0;
  std::size_t rows = 0;           // query rows summed over (per head pair)
  std::size_t skipped_too_long = 0;
  MdsResult mds;
  // Each head's behaviour on the same inputs (analyze surface's labels: broad, prev, next, cls, sep,
  // punct, none), to colour the MDS as Clark et al.'s Fig. 6; empty when not computed.
  std::vector<std::string> behaviours;
};

// ln x for positive normal floats, accurate to about 1 ulp (Cephes' logf polynomial) and written
// so the compiler can vectorise loops over it.
float fast_log(float x);

// Jensen-Shannon divergence of two rows that are already smoothed (strictly positive), computed
// as in the accumulator.
double js_divergence(const float* p, const float* q, std::int64_t n);

class Accumulator {
 public:
  Accumulator(std::int64_t layers, std::int64_t heads, Options options);
  void add(const core::Tensor& attentions);  // [layers, heads, T, T]
  Result result() const;                     // runs the MDS
  // The sums so far as bytes, and adding another accumulator's (of the same shape and options)
  // to these: one block of a run spread over processes (analysis/blocks.hpp).
  std::string save() const;
  void merge(std::string_view saved, const std::string& what);

 private:
  std::int64_t layers_, heads_;
  Options options_;
  std::vector<double> sums_;  // upper triangle used while accumulating
  std::size_t inputs_ = 0, rows_ = 0;
};

// `runner`: spreads the inputs over the run's processes (analysis/blocks.hpp); null: one process.
Result run(AttentionSource& source, const std::vector<AnalysisInput>& inputs, const SourceOptions& source_options,
           const Options& options, const std::function<std::string(std::size_t)>& data_where = {},
           dist::Runner* runner = nullptr);

// The document's parameters: every option that changed the result, and the definitions used.
nlohmann::json params_json(const Options& options);

nlohmann::json to_json(const Result& result);
std::string table(const Result& result);

// The figures these results make (the paper's first); written into the document (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::cluster
