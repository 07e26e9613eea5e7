// A whole influence-pattern run (Lu et al. 2021) over loaded tasks: per example the QoI, each
// token's integrated-gradients attribution and the Guided Pattern Refinement pattern of every
// source token; per task accuracy per form, completeness, skip share, consistency, the
// ablation check against attention paths and a layer-attribution stand-in, optionally the
// random-pattern optimality test; and the result document with its parameters.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analysis/document.hpp"
#include "analysis/figure.hpp"
#include "analysis/influence_tasks.hpp"
#include "dist/runner.hpp"

namespace bertscope::analysis::influence {

// Which source tokens to analyse: "all" (every token but the target), or comma-separated roles
// (subject, attractor) and 0-based positions.
struct SourceSpec {
  bool all = true;
  std::vector<std::string> roles;
  std::vector<std::int32_t> positions;
};
SourceSpec parse_sources(const std::string& text);  // throws Error(input) on a bad item

// Lu et al.'s selection: examples of the most common token length whose words are single pieces,
// at most 250 per sentence form and 1,000 per file, shuffled with seed 1111.
inline agreement::SelectOptions paper_selection() {
  agreement::SelectOptions s;
  s.length = 0;
  s.single_pieces = true;
  s.per_form = 250;
  s.limit = 1000;
  return s;
}

struct RunOptions {
  std::int64_t steps = 50;        // integration steps m: alpha = k/m for k = 0..m
  std::int64_t max_rows = 8192;   // token rows per recorded forward pass (memory)
  std::string baseline = "mask";  // baseline word embeddings: mask, zero or pad
  std::string sources = "all";    // see SourceSpec
  bool patterns = true;           // false: QoI, attributions and accuracy only (no ablation either)
  bool verify = false;            // recompute each pattern's influence with reverse-mode gradients
  std::string algorithm = "sweep";  // GPR's passes: sweep or per-layer (influence.hpp Algorithm)
  // Ablation check: keep the paths of this many source tokens per example (largest |attribution|);
  // 0 = none. Nodes off the paths are replaced by `replacement` (zero, baseline or mean).
  std::size_t ablation_tokens = 3;
  std::string replacement = "zero";
  double residual = 0.5;          // identity weight of Â for the attention-path baselines
  std::string attention_direction = "key-to-query";  // or query-to-key (Lu et al.'s code)
  std::size_t batch_size = 16;    // inputs per forward pass for the ablation and attention runs
  // Random-pattern optimality test (Lu et al.'s get_reverse_influence_optimality_test): this many
  // random patterns per refined pattern, each one backward pass over the alpha points (0 = off;
  // Lu et al. used 100). Example i of task t draws from mix_seed(mix_seed(seed, t), i).
  std::size_t optimality_samples = 0;
  std::uint64_t optimality_seed = 1;
  // How the tasks were selected (give load_tasks the same; recorded in the parameters).
  agreement::SelectOptions selection = paper_selection();
};

struct RunOutput {
  ResultDocument document;  // method "influence"; model is the model's folder
  std::string table;        // the readable summary the CLI prints
};

// The figures these results make (Lu et al.'s per-task tables and charts; written into the
// document, analysis/figure.hpp), read from results.summary.
std::vector<Figure> figures(const nlohmann::json& results);

// Runs every task; `advance` is called once per example done. `runner` spreads the examples over
// the processes of the run and keeps them in its checkpoint folder (dist/runner.hpp; stages
// "task-0", "task-1", ...); without one, everything runs here and nothing is kept.
RunOutput run_tasks(const model::Model& model, const std::vector<Task>& tasks, const RunOptions& options,
                    const std::function<void()>& advance = {}, dist::Runner* runner = nullptr);

}  // namespace bertscope::analysis::influence
