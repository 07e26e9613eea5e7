// Clark et al. 2019, section 3.2 and Figure 3 (methods.md 1.4): how much the masked-language-model
// loss depends on attention to [SEP], to "." and ",", and to the other tokens, per layer.
//
// Each input (Clark's segments "[CLS] A [SEP] B [SEP]", or any text) is masked as in BERT
// pre-training (importance::mask_for_mlm: 15% of the non-special tokens, 80/10/10, deterministic
// seed); L = the mean (or, as an option, the sum) of the cross-entropies at the masked tokens.
// With A^{l,h} the attention probabilities as applied (row = query):
//
//   G_l(K) = mean over heads h, queries i (all rows) and keys j in K of |dL / dA^{l,h}[i, j]|
//
// per input, then averaged over the inputs that have a key in K (each input weighted equally).
// Key categories: [SEP]; the punctuation tokens ("." and ","); other = every remaining key
// ([CLS] included) that was not chosen for masking. Keys chosen for masking are in no category.
// Clark et al. give no code; masking rate, loss reduction and averaging order are this
// reconstruction's (methods.md 1.4 [R]). Their finding: from layer 5 on, G_l([SEP]) is very small.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/attention_source.hpp"
#include "analysis/figure.hpp"
#include "analysis/importance.hpp"
#include "dist/runner.hpp"
#include "model/model.hpp"

namespace bertscope::analysis::gradsep {

inline constexpr std::size_t kCategories = 3;
const std::array<std::string, kCategories>& category_names();  // sep, punct, other

struct Options {
  importance::MlmMasking masking;
  bool sum_loss = false;  // L = sum over masked tokens instead of their mean
  std::vector<std::string> punct_tokens{".", ","};
  std::size_t batch_size = 8;
};

// Per-input figures: per layer and category the mean |gradient| and the number of keys.
struct InputGradients {
  std::vector<std::array<double, kCategories>> layer_mean;   // [layers]
  std::vector<std::array<double, kCategories>> head_mean;    // [layers * heads]
  std::array<std::int64_t, kCategories> keys{};              // keys per category
  double loss = 0;
  std::int64_t masked = 0;
};

// The gradients of one masked input (positions from `example`) and the categories of its keys
// (`tokens`: the original token strings, before masking).
InputGradients input_gradients(const model::Model& model, const importance::Example& example,
                               const std::vector<std::string>& tokens, const Options& options);

struct Result {
  std::int64_t layers = 0, heads = 0;
  std::vector<std::array<double, kCategories>> layer_mean;  // [layers], averaged over inputs
  std::vector<std::array<double, kCategories>> head_mean;   // [layers * heads]
  std::array<std::size_t, kCategories> inputs_with{};       // inputs that have keys of each category
  std::size_t inputs = 0;
  double mean_loss = 0;
  std::int64_t masked_tokens = 0;
  Options options;
  double seconds = 0;
};

// `runner`: spreads the batches over the run's processes (dist::Runner); null: one process.
Result run(const model::Model& model, const std::vector<AnalysisInput>& inputs, const Options& options, bool truncate,
           const std::function<std::string(std::size_t)>& where = {},
           const std::function<void(std::size_t done, std::size_t total)>& progress = {},
           dist::Runner* runner = nullptr);

// results.layers (per-layer list: sep, punct, other), results.per_layer (name -> [L] lines),
// results.per_head (name -> [L][H] matrices), counts.
// The document's parameters: every option that changed the result, and the definitions used.
nlohmann::json params_json(const Options& options);

nlohmann::json to_json(const Result& result);
std::string table(const Result& result);

// The figures these results make (the paper's first); written into the document (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::gradsep
