#include "analysis/patterns.hpp"
#include "analysis/runs.hpp"
#include "cli/analyze.hpp"
#include "cli/task_options.hpp"

namespace bertscope::cli {

namespace {

namespace pt = analysis::patterns;

void add_patterns(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    TaskArgs task;
    std::vector<std::string> thresholds;
    std::string labels, save_classifier, classifier;
    int folds = 5;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "patterns",
      "Kovaleva et al.'s self-attention pattern types per head and input: vertical, diagonal, vertical+diagonal, "
      "block, heterogeneous. Transparent rules on measurable map features by default; --labels trains a classifier "
      "on maps you labelled yourself (--save-classifier keeps it, --classifier applies a saved one).");
  add_analyze_options(*cmd, args->common);
  add_distributed_options(*cmd, args->common);
  add_task_options(*cmd, args->task);
  cmd->add_option("--threshold", args->thresholds,
                  "Rule threshold NAME=VALUE (vertical 0.5, diagonal 0.5, mix 0.15, mix_total 0.6, block 0.6, block_entropy 0.3); "
                  "repeatable");
  auto* labels = cmd->add_option("--labels", args->labels,
                                 "TSV of hand-labelled maps, header input<TAB>layer<TAB>head<TAB>label (input = 0-based "
                                 "position in --data; label = vertical, diagonal, vertical+diagonal, block or "
                                 "heterogeneous): train the learned classifier and apply it");
  auto* save = cmd->add_option("--save-classifier", args->save_classifier, "Save the trained classifier (JSON) here");
  save->needs(labels);
  cmd->add_option("--classifier", args->classifier, "Apply a classifier saved with --save-classifier")->excludes(labels);
  cmd->add_option("--folds", args->folds, "Cross-validation folds for --labels (default 5)")->check(CLI::Range(2, 100));
  cmd->callback([args] {
    const auto& a = args->common;
    auto ctx = open_analyze(a, "patterns");
    const analysis::runs::PatternChoice choice{args->thresholds, args->labels, args->save_classifier, args->classifier, args->folds};
    const auto out = analysis::runs::patterns(subject(a, ctx), common_options(a, ctx), task_spec(args->task), choice);
    if (ctx.progress) ctx.progress->finish();
    finish_analyze(a, ctx, out.document, out.table);
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 30, add_patterns);

}  // namespace bertscope::cli
