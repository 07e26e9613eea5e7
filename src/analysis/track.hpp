// Training dynamics: the main job's head statistics over a model's checkpoints, against training
// step (how heads form during training; docs/methods.md 4.4). Per checkpoint, one loaded at a time:
//   positional  Clark et al.'s prev/next attention of every head (analysis/surface), the heads
//               whose prev or next is >= the threshold, the best head's value;
//   sep         per layer the share of all attention that goes to [SEP] (surface's layer mean of
//               `sep`, found by token roles), and its maximum over layers;
//   syntax      per relation with >= min_relation_count words (not the pooled "all", not root,
//               which no head can predict): the best single head's accuracy and the best
//               fixed-offset baseline (analysis/syntax), and how many relations the best head
//               beats by >= margin;
//   agreement   the MLM's accuracy on each agreement file (logit(good) > logit(bad) at [MASK],
//               analysis/influence's QoI on Lu et al.'s selection of examples; null when it
//               selects none).
// The numbers are those the single-model commands (analyze surface, analyze syntax, analyze
// influence) report for the same inputs: this module calls their library runs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "analysis/document.hpp"
#include "analysis/figure.hpp"
#include "analysis/influence_run.hpp"
#include "analysis/runs.hpp"

namespace bertscope::analysis::track {

struct Checkpoint {
  std::filesystem::path folder;
  std::int64_t step = 0;
  std::optional<std::int64_t> tokens_seen;  // from step.json, when it has them
  std::optional<double> loss;
};

// The checkpoints of `dir` in step order: its subfolders (or those of dir/steps, a training
// folder's), hidden ones (a kept step being written) left out. The step comes from the folder's
// step.json, else from the digits that end its name. Error(input) naming the folder when dir has
// none, a folder has no config.json or no step, two folders have one step, or the checkpoints
// differ in layers or heads.
std::vector<Checkpoint> list_checkpoints(const std::filesystem::path& dir);

struct Options {
  std::string text;                    // attention statistics: text lines, or running text with segments
  runs::TextInputOptions text_inputs;  // segments or lines
  std::string ud;                      // CoNLL-U for syntax
  std::vector<std::string> agreement;  // agreement data files (Marvin & Linzen TSV, BLiMP, templates)
  std::size_t batch_size = 16;
  surface::Options surface;
  syntax::Options syntax;
  influence::DataOptions agreement_data;
  agreement::SelectOptions selection = influence::paper_selection();
  double positional_threshold = 0.5;
  std::size_t min_relation_count = 100;
  double margin = 0.05;  // syntax: best head over the baseline by at least this much
  // The targets the figure draws as dashed lines (shares, accuracies).
  double sep_target = 0.2, agreement_target = 0.8;
};

// Called with (checkpoints done, total) before the first and after each checkpoint.
using Progress = std::function<void(std::size_t done, std::size_t total)>;

// Runs the statistics over every checkpoint of `dir` and returns the document (method "track").
// Arrays are nested JSON lists with the step first: positional.prev [step, layer, head],
// sep.per_layer [step, layer], syntax.best [step, relation], agreement.accuracy [step, task].
ResultDocument run(const std::filesystem::path& dir, const Options& options, const Progress& progress = {});

std::string table(const ResultDocument& document);

// The figures these results make (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::track
