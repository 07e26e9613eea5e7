#include <fmt/format.h>

#include "analysis/ablate.hpp"
#include "analysis/runs.hpp"
#include "cli/commands.hpp"
#include "cli/distributed.hpp"
#include "dist/processes.hpp"
#include "cli/progress.hpp"
#include "cli/task_options.hpp"
#include "report/results.hpp"

namespace bertscope::cli {

namespace {

void add_ablate_command(CLI::App& app) {
  struct Args {
    std::string model, data, out, mode = "uniform";
    TaskArgs task;
    std::size_t batch = 16, random_draws = 0;
    std::int64_t random_size = 1;
    std::uint64_t seed = 0;
    int threads = 0;
    bool truncate = false, no_layers = false, full_passes = false, resume = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "ablate",
      "Evaluate a fine-tuned sequence classifier on a task, then with each single head and each whole layer disabled "
      "(Kovaleva et al. 2019): results.baseline, results.head_delta [layers x heads] and results.layer_delta "
      "[layers] of metric changes (disabled - baseline), the heads whose removal improves the metric, and the "
      "expected change for a random head. Layers below the disabled one are computed once and reused.");
  cmd->add_option("--model", args->model, "Fine-tuned BertForSequenceClassification folder")->required();
  cmd->add_option("--data", args->data, "Task TSV file with gold labels (GLUE layout)")->required();
  cmd->add_option("--out", args->out, "Write the result JSON document here");
  cmd->add_option("--mode", args->mode,
                  "uniform: attention 1/T over the real tokens (Kovaleva et al., default); zero: head mask 0 (Michel et al.)")
      ->check(CLI::IsMember({"uniform", "zero"}));
  add_task_options(*cmd, args->task);
  cmd->add_flag("--no-layers", args->no_layers, "Skip disabling whole layers");
  cmd->add_option("--random-draws", args->random_draws, "Also disable this many random sets of heads");
  cmd->add_option("--random-size", args->random_size, "Heads per random set (default 1)")->check(CLI::PositiveNumber);
  cmd->add_option("--seed", args->seed, "Seed for the random sets");
  cmd->add_flag("--full-passes", args->full_passes,
                "Run every configuration as a full forward pass instead of reusing the layers below (for checks and timing)");
  cmd->add_option("--batch-size", args->batch, "Inputs per forward pass")->check(CLI::PositiveNumber);
  cmd->add_flag("--truncate", args->truncate, "Truncate over-long inputs instead of failing");
  add_threads_option(*cmd, args->threads);
  add_resume_option(*cmd, args->resume);
  cmd->callback([args] {
    apply_threads(args->threads);
    dist::Runner runner(checkpoint_of(args->out, args->resume, {args->model, args->data}));
    const auto m = model::Model::load(args->model);
    analysis::ablate::Options opt;
    opt.mode = analysis::ablate::parse_mode(args->mode);
    opt.batch_size = args->batch;
    opt.truncate = args->truncate;
    opt.reuse = !args->full_passes;
    opt.layers = !args->no_layers;
    opt.random_draws = args->random_draws;
    opt.random_size = args->random_size;
    opt.seed = args->seed;
    opt.runner = &runner;
    std::unique_ptr<Progress> progress;
    std::int64_t last = 0;
    opt.progress = [&](std::size_t done, std::size_t total) {
      if (!progress) progress = std::make_unique<Progress>("ablate", static_cast<std::int64_t>(total));
      progress->advance(static_cast<std::int64_t>(done) - last);
      last = static_cast<std::int64_t>(done);
    };
    auto out = analysis::runs::ablate(m, args->model, args->data, task_spec(args->task), opt);
    if (progress) progress->finish();
    out.document.execution = execution_record(runner);
    if (!dist::writer()) return;
    if (!args->out.empty()) report::write_results(args->out, out.document);
    runner.finish();
    fmt::print("{}", out.table);
    if (!args->out.empty()) fmt::print("wrote {}\n", args->out);
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 60, add_ablate_command);

}  // namespace bertscope::cli
