#include <fmt/format.h>

#include "analysis/importance.hpp"
#include "analysis/runs.hpp"
#include "cli/analyze.hpp"
#include "cli/analyze_text_inputs.hpp"
#include "cli/distributed.hpp"
#include "cli/task_options.hpp"
#include "io/error.hpp"

namespace bertscope::cli {

namespace {

namespace im = analysis::importance;

void add_importance(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    TaskArgs task;
    SegmentArgs seg;
    std::string objective = "auto";
    im::Options options;
    im::MlmMasking masking;
    bool no_normalize = false, no_layer_normalize = false, no_global_normalize = false, no_curve = false,
         no_entropy = false, resume = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "importance",
      "Head importance from head-mask gradients (Michel et al. 2019): the sum over examples of |dL/dmask| with each "
      "example's own gradient, normalised per layer (L2) and min-max over all heads unless --no-normalize, and the "
      "masking curve: mask the least important 10% of heads at a time, re-score, and stop once the metric falls under "
      "the threshold. --data: a task TSV file for a fine-tuned sequence classifier (classifier loss, the task's metric), "
      "or plain text (one text per line, a tab separating a pair; or running text with --segments) for a model with "
      "the MLM head (BERT's masking, metric = MLM accuracy). --bertology reproduces transformers' run_bertology.py.");
  add_analyze_options(*cmd, args->common, false);
  add_task_options(*cmd, args->task);
  add_segment_options(*cmd, args->seg);
  cmd->add_option("--objective", args->objective,
                  "task: classifier loss on a task TSV; mlm: MLM loss on text; auto (default): task for a sequence "
                  "classifier, mlm otherwise")
      ->check(CLI::IsMember({"auto", "task", "mlm"}));
  cmd->add_flag("--no-normalize", args->no_normalize, "Raw scores: no per-layer L2 and no min-max normalisation");
  cmd->add_flag("--no-layer-normalize", args->no_layer_normalize, "No per-layer L2 normalisation");
  cmd->add_flag("--no-global-normalize", args->no_global_normalize, "No min-max scaling over all heads");
  cmd->add_flag("--bertology", args->options.bertology,
                "Reproduce run_bertology.py: |accumulated batch-mean gradient| added at every step (its head_mask.grad "
                "is never zeroed), divided by the number of tokens");
  cmd->add_option("--bertology-batch-size", args->options.bertology_batch,
                  "With --bertology: run_bertology's --batch_size (default 1); the loss is each batch's mean")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-curve", args->no_curve, "Score once, without the masking curve");
  cmd->add_option("--masking-amount", args->options.masking_amount, "Fraction of all heads masked per step (0.1)")
      ->check(CLI::Range(1e-9, 1.0));
  cmd->add_option("--masking-threshold", args->options.masking_threshold,
                  "Stop once the metric falls below this fraction of the unmasked metric (0.9)");
  cmd->add_flag("--no-entropy", args->no_entropy, "Skip run_bertology's attention entropy per head");
  cmd->add_option("--mask-prob", args->masking.mask_prob, "MLM objective: fraction of tokens masked (0.15)")
      ->check(CLI::Range(1e-9, 1.0));
  cmd->add_option("--mask-seed", args->masking.seed, "MLM objective: seed of the masking (0)");
  add_resume_option(*cmd, args->resume);
  cmd->callback([args] {
    auto& a = args->common;
    auto ctx = open_analyze(a, "importance");
    auto& o = args->options;
    o.normalize_layers = !args->no_normalize && !args->no_layer_normalize;
    o.normalize_global = !args->no_normalize && !args->no_global_normalize;
    o.curve = !args->no_curve;
    o.entropy = !args->no_entropy;
    std::unique_ptr<Progress> progress;
    std::size_t current_pass = SIZE_MAX, last = 0;
    o.progress = [&](std::size_t pass, std::size_t done, std::size_t total) {
      if (pass != current_pass) {
        if (progress) progress->finish();
        progress = std::make_unique<Progress>(fmt::format("importance pass {}", pass), static_cast<std::int64_t>(total));
        current_pass = pass;
        last = 0;
      }
      progress->advance(static_cast<std::int64_t>(done - last));
      last = done;
    };
    dist::Runner runner(checkpoint_of(a.out, args->resume, {a.model, a.data}));
    o.runner = &runner;
    auto out = analysis::runs::importance(*ctx.model, a.model, common_options(a, ctx), task_spec(args->task),
                                          text_input_options(args->seg), args->objective, args->masking, o);
    if (progress) progress->finish();
    out.document.execution = execution_record(runner);
    finish_analyze(a, ctx, out.document, out.table);
    runner.finish();
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 70, add_importance);

}  // namespace bertscope::cli
