// What every `bertscope analyze <method>` shares: --model or --traces, --data, --out, batching,
// threads, progress, and writing the result document.
#pragma once

#include <memory>
#include <string>

#include "analysis/runs.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "dist/runner.hpp"
#include "model/model.hpp"
#include "report/results.hpp"

namespace bertscope::cli {

struct AnalyzeArgs {
  std::string model, traces, data, out;
  std::size_t batch = 16;
  int threads = 0;
  bool truncate = false;
  // Set by add_distributed_options: the method spreads its inputs over the processes of a run
  // under mpirun and keeps a checkpoint for --resume.
  bool distributed = false, resume = false;
};

// Adds --model/--traces (one of them required unless `traces_allowed` is false: then --model
// is required), --data (required), --out, --batch-size, --truncate, --threads.
void add_analyze_options(CLI::App& cmd, AnalyzeArgs& args, bool traces_allowed = true);
// For a method whose run takes Common::runner: --resume, and a runner in its context.
void add_distributed_options(CLI::App& cmd, AnalyzeArgs& args);

// The model (when --model was given; else --traces must be) and the progress display.
struct AnalyzeContext {
  std::unique_ptr<model::Model> model;
  std::unique_ptr<Progress> progress;
  std::string label;  // the progress display's
  std::unique_ptr<dist::Runner> runner;  // distributed methods only; its checkpoint is beside --out
};
AnalyzeContext open_analyze(const AnalyzeArgs& args, const std::string& label);

// The model or traces the arguments name, as the library's runs take them.
analysis::runs::Subject subject(const AnalyzeArgs& args, const AnalyzeContext& ctx);
// Batching, truncation and a progress display that starts when the library reports its total.
analysis::runs::Common common_options(const AnalyzeArgs& args, AnalyzeContext& ctx);

// Records how the run went (execution: processes, reused items), writes the document to --out
// (when given) and prints the readable table on stdout (process 0 of a run under mpirun only),
// then removes the checkpoint.
void finish_analyze(const AnalyzeArgs& args, AnalyzeContext& ctx, report::ResultDocument doc, const std::string& table);

}  // namespace bertscope::cli
