// Disabling heads and layers of a fine-tuned sequence classifier and measuring the task metric
// (Kovaleva et al. 2019, methods.md 2.7): the intact model, then each single head disabled,
// then each whole layer disabled, and optionally random sets of heads.
//
// Disabling is either Kovaleva's uniform attention (every query attends 1/T to each of the T
// real tokens, so the head outputs the mean of its value vectors) or Michel et al.'s zeroing
// (head mask 0: the head contributes nothing but W_O's bias).
//
// The sweep reuses everything below the disabled layer: one intact pass records the hidden
// states entering every layer, and each configuration of layer l runs only layers l..L-1 from
// them. A single-head sweep then costs L + H * sum_l (L - l) layer evaluations per input
// instead of (H * L + 1) * L, i.e. (L + 1) / (2L) + O(1/H) of the full-pass cost (0.55 for
// bert-base).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/figure.hpp"
#include "analysis/task_data.hpp"
#include "core/tensor.hpp"
#include "dist/runner.hpp"
#include "model/model.hpp"

namespace bertscope::analysis::ablate {

enum class Mode { uniform, zero };
std::string_view mode_name(Mode mode);
Mode parse_mode(std::string_view name);  // "uniform" | "zero"; throws Error(input)

using Head = std::pair<std::int64_t, std::int64_t>;  // (layer, head), 0-based

// Adds the disabling of `heads` to run options (uniform_heads, or a head mask with 0).
void disable_heads(model::RunOptions& options, std::span<const Head> heads, Mode mode,
                   const model::ModelConfig& config);

struct SweepOptions {
  Mode mode = Mode::uniform;
  bool heads = true;              // every single head
  bool layers = true;             // every whole layer (all its heads disabled)
  std::vector<std::vector<Head>> head_sets;  // further configurations, e.g. random heads
  // false: run every configuration as a full forward pass (for checking and timing the reuse).
  bool reuse = true;
};

// Layer evaluations (one layer over one input) spent, and what full passes would have spent.
struct Cost {
  std::int64_t layer_evaluations = 0;
  std::int64_t full_pass_evaluations = 0;
  double ratio() const {
    return full_pass_evaluations ? static_cast<double>(layer_evaluations) / static_cast<double>(full_pass_evaluations) : 0.0;
  }
};

// Classifier outputs of one batch under every configuration; each tensor is [batch, labels].
struct SweepOutputs {
  core::Tensor baseline;
  std::vector<core::Tensor> heads;   // [layer * H + head] when SweepOptions::heads
  std::vector<core::Tensor> layers;  // [layer] when SweepOptions::layers
  std::vector<core::Tensor> sets;    // per SweepOptions::head_sets
};

// Runs the sweep on one batch. The model needs a sequence-classification head (pooler and
// classifier); Error(model) naming the folder otherwise.
SweepOutputs sweep(const model::Model& model, std::span<const model::ModelInput> batch, const SweepOptions& options,
                   Cost* cost = nullptr);

// Error(model) unless the model is a BertForSequenceClassification with its pooler and classifier.
void check_classifier(const model::Model& model);

struct Options {
  Mode mode = Mode::uniform;
  std::size_t batch_size = 16;
  bool truncate = false;       // over-long inputs: truncate (true) or Error naming FILE:LINE (false)
  bool reuse = true;
  bool layers = true;
  std::size_t random_draws = 0;    // random sets of heads to disable, besides single heads
  std::int64_t random_size = 1;    // heads per random set
  std::uint64_t seed = 0;
  std::function<void(std::size_t done, std::size_t total)> progress;  // examples done
  // Spreads the batches over the processes of the run and keeps them for --resume (stage
  // "batches"; dist/runner.hpp); none: everything here, nothing kept. Not a result option.
  dist::Runner* runner = nullptr;
};

struct Result {
  std::int64_t layers = 0, heads = 0;
  std::size_t examples = 0;
  Mode mode = Mode::uniform;
  std::string primary;                       // the task's metric name
  TaskScores baseline;
  std::vector<TaskScores> head_scores;       // [layer * heads + head]
  std::vector<TaskScores> layer_scores;      // [layer]
  std::vector<std::vector<Head>> random_sets;
  std::vector<TaskScores> random_scores;
  Cost cost;
  double seconds = 0;

  // results.baseline, results.head_delta [layers][heads], results.layer_delta [layers], the
  // improving heads and layers, random_head (the exact expectation over a uniformly chosen
  // head), random_sets (when drawn), every metric's deltas, and the cost.
  nlohmann::json to_json() const;
};

// The document's parameters: every option that changed the result, the task's metric, and the
// definitions used.
nlohmann::json params_json(const Options& options, const Result& result);

// Encodes the task (errors name FILE:LINE), binds its labels to the model's classes, runs the
// sweep in length-sorted batches (memory: one batch's hidden states), and scores every
// configuration.
Result run(const model::Model& model, const TaskData& data, const Options& options);

// The figures these results make (the paper's first); written into the document (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::ablate
