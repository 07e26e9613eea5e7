// Head importance from head-mask gradients (Michel, Levy & Neubig 2019; methods.md 4.3) and the
// iterative masking curve, on task data (classifier loss, the task's metric) or on plain text
// (masked-language-model loss with BERT's masking, metric = MLM accuracy).
//
// The head mask ξ [layers, heads] multiplies each head's attention probabilities (transformers'
// head_mask), evaluated at its current value (all ones at first). Per example x with loss L_x
// (the example's mean cross-entropy: over its masked tokens for MLM; squared error for
// regression):
//
//   Michel (default)   raw[l,h] = sum_x |dL_x/dξ_{l,h}|       per-example gradients
//   bertology          raw[l,h] = sum_k |sum_{j<=k} g_j| / N  transformers' run_bertology.py: g_j
//                      is the gradient of batch j's mean loss (batches of `bertology_batch` in data
//                      order); head_mask.grad is never zeroed, so each step adds the absolute value
//                      of the running sum; N = number of (non-pad) tokens of all examples
//
// then, as options, each layer's row divided by its L2 norm (+1e-20) and all scores min-max
// scaled to [0, 1]. The gradients of every example come from batched passes: the examples of a
// batch don't interact, so each one's head-mask gradient is its own (autodiff's per-input
// head-mask gradients), whatever the batch size.
//
// Masking curve (run_bertology's mask_heads): score with all heads; then repeatedly mask the
// max(1, floor(amount * layers * heads)) least important heads still active (masked heads rank
// last), re-score under the new mask (importance and metric), and stop once the metric falls
// below threshold * the unmasked metric. The final mask is the last one whose metric stayed at
// or above it. Unlike run_bertology, the loop also stops when every head is masked (the script
// would loop for ever when the metric then still passes the threshold).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dist/runner.hpp"
#include "analysis/attention_source.hpp"
#include "analysis/figure.hpp"
#include "analysis/task_data.hpp"
#include "core/tensor.hpp"
#include "model/model.hpp"

namespace bertscope::analysis::importance {

enum class Objective { classification, regression, mlm };
std::string_view objective_name(Objective objective);

using Head = std::pair<std::int64_t, std::int64_t>;  // (layer, head), 0-based

struct Example {
  model::ModelInput input;
  std::int32_t label = 0;                       // classification: gold class
  float target = 0;                             // regression: gold value
  std::vector<std::int32_t> positions, labels;  // mlm: masked positions and their original ids
};

// Examples, and how a pass over them is scored: `metric` gets each example's outputs in
// example order: classifier logits [labels], or for MLM the predicted (argmax) token id at each
// masked position [positions] (ids as floats: a corpus's MLM logits would not fit in memory).
struct Task {
  Objective objective = Objective::classification;
  std::vector<Example> examples;
  std::string metric_name;
  std::function<double(std::span<const core::Tensor> outputs)> metric;
};

// A task TSV file for a fine-tuned sequence classifier (Error(model) otherwise): tokenized
// (errors name FILE:LINE), labels bound to the model's classes, the task's primary metric.
Task task_from_data(const model::Model& model, const TaskData& data, bool truncate);

// BERT's masking of one encoded input, the scheme of model/pretraining.hpp: round(mask_prob *
// n) of the n non-special tokens (at least one) chosen uniformly, of which 80% become [MASK],
// 10% a random token and 10% stay; deterministic in (seed, index).
struct MlmMasking {
  double mask_prob = 0.15;
  std::uint64_t seed = 0;
};
Example mask_for_mlm(const model::Encoding& encoding, const model::Tokenizer& tokenizer, const MlmMasking& masking,
                     std::uint64_t index);

// Plain text (or pre-built encodings such as Clark's segments) with the MLM objective; needs
// the MLM head (Error(model) naming the folder otherwise). Metric: accuracy of the argmax
// prediction over every masked token. `where(i)` names input i in errors.
Task mlm_task(const model::Model& model, const std::vector<AnalysisInput>& inputs, const MlmMasking& masking,
              bool truncate, const std::function<std::string(std::size_t)>& where = {});

struct Options {
  bool bertology = false;
  std::size_t bertology_batch = 1;  // run_bertology's --batch_size (changes the bertology scores)
  bool normalize_layers = true;
  bool normalize_global = true;
  bool entropy = true;              // run_bertology's attention entropy, in the first pass
  bool curve = true;
  double masking_amount = 0.1;
  double masking_threshold = 0.9;
  std::size_t batch_size = 16;      // inputs per forward/backward pass (does not change any result)
  // Called after each batch: pass number (0 = all heads), examples done, examples in total.
  std::function<void(std::size_t pass, std::size_t done, std::size_t total)> progress;
  // Spreads each pass's batches over the processes of the run and keeps them for --resume
  // (stages "pass-0", "pass-1", ...; dist/runner.hpp); none: all here. Not a result option.
  dist::Runner* runner = nullptr;
};

// One scoring of every example under a head mask.
struct Pass {
  core::Tensor raw;         // [layers, heads] before normalisation (see above)
  core::Tensor importance;  // [layers, heads] normalised as asked
  core::Tensor entropy;     // [layers, heads] summed row entropy (nats) per token; empty unless asked
  double loss = 0;          // mean of the examples' losses
  double metric = 0;
  std::int64_t tokens = 0;
};

// Applies the options' normalisations to raw scores (bertology: after dividing by `tokens`).
core::Tensor normalize(const core::Tensor& raw, const Options& options, std::int64_t tokens);

Pass score(const model::Model& model, const Task& task, const core::Tensor& head_mask, const Options& options,
           bool entropy, std::size_t pass_number = 0);

struct Step {
  std::int64_t masked = 0;  // heads masked in total
  std::vector<Head> newly_masked;
  double metric = 0, loss = 0;
  bool above_threshold = true;
};

struct Result {
  std::int64_t layers = 0, heads = 0;
  Objective objective = Objective::classification;
  std::string metric_name;
  std::size_t examples = 0;
  Pass initial;
  std::vector<Step> curve;  // step 0 = all heads
  core::Tensor final_mask;  // [layers, heads] 0/1, the last mask at or above the threshold
  double threshold = 0;     // masking_threshold * the unmasked metric
  std::int64_t passes = 0;
  double seconds = 0;
  Options options;
};

Result run(const model::Model& model, const Task& task, const Options& options);

// results.importance [layers][heads], raw_importance, entropy, per_head (a per-head list with
// rank), curve, curve_series, final_mask.
// The document's parameters: every option that changed the result (the MLM masking when the task
// is masked language modelling), and the definitions used.
nlohmann::json params_json(const Options& options, const Task& task, const MlmMasking& masking);

nlohmann::json to_json(const Result& result);
std::string table(const Result& result);

// The figures these results make (the paper's first); written into the document (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::importance
