#include <fmt/format.h>

#include "analysis/runs.hpp"
#include "cli/commands.hpp"
#include "cli/distributed.hpp"
#include "cli/progress.hpp"
#include "cli/task_options.hpp"
#include "dist/processes.hpp"
#include "report/results.hpp"

namespace bertscope::cli {

namespace {

void add_compare_command(CLI::App& app) {
  struct Args {
    std::string model, model_b, data, out;
    TaskArgs task;
    std::int64_t pad_to = 0;
    std::size_t batch = 16;
    int threads = 0;
    bool truncate = false, resume = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "compare",
      "Compare the attention of two models with the same encoder shape and vocabulary on identical inputs (e.g. "
      "pre-trained BERT and its fine-tuned version, Kovaleva et al. 2019): per head, the cosine similarity of their "
      "maps averaged over inputs (results.cosine [layers x heads]), and the attention to [CLS], [SEP] and punctuation "
      "per layer for both (results.special).");
  cmd->add_option("--model", args->model, "Model A (e.g. pre-trained)")->required();
  cmd->add_option("--model-b", args->model_b, "Model B (e.g. fine-tuned)")->required();
  cmd->add_option("--data", args->data, "Inputs: task TSV, CoNLL-U, span TSV or text lines (a tab separates a pair)")
      ->required();
  cmd->add_option("--out", args->out, "Write the result JSON document here");
  cmd->add_option("--pad-to", args->pad_to,
                  "Compare maps padded with [PAD] to this many tokens, as the paper's code did (200); default 0: maps "
                  "cropped to the real tokens")
      ->check(CLI::NonNegativeNumber);
  add_task_options(*cmd, args->task);
  cmd->add_option("--batch-size", args->batch, "Inputs per forward pass")->check(CLI::PositiveNumber);
  cmd->add_flag("--truncate", args->truncate, "Truncate over-long inputs instead of failing");
  add_threads_option(*cmd, args->threads);
  add_resume_option(*cmd, args->resume);
  cmd->callback([args] {
    apply_threads(args->threads);
    dist::Runner runner(checkpoint_of(args->out, args->resume, {args->model, args->model_b, args->data}));
    const auto a = model::Model::load(args->model);
    const auto b = model::Model::load(args->model_b);
    analysis::runs::Common common;
    common.data = args->data;
    common.batch_size = args->batch;
    common.truncate = args->truncate;
    common.runner = &runner;
    std::unique_ptr<Progress> progress;
    std::int64_t last = 0;
    common.progress = [&](std::size_t done, std::size_t total) {
      if (!progress) progress = std::make_unique<Progress>("compare", static_cast<std::int64_t>(total));
      progress->advance(static_cast<std::int64_t>(done) - last);
      last = static_cast<std::int64_t>(done);
    };
    auto out = analysis::runs::compare(a, args->model, b, args->model_b, common, task_spec(args->task), args->pad_to);
    if (progress) progress->finish();
    out.document.execution = execution_record(runner);
    if (!dist::writer()) return;  // one document and table, from process 0
    if (!args->out.empty()) report::write_results(args->out, out.document);
    runner.finish();
    fmt::print("{}", out.table);
    if (!args->out.empty()) fmt::print("wrote {}\n", args->out);
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 55, add_compare_command);

}  // namespace bertscope::cli
