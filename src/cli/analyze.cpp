#include "cli/analyze.hpp"

#include <fmt/format.h>

#include "cli/distributed.hpp"
#include "dist/processes.hpp"
#include "io/error.hpp"

namespace bertscope::cli {

void add_analyze_options(CLI::App& cmd, AnalyzeArgs& args, bool traces_allowed) {
  auto* model = cmd.add_option("--model", args.model, "Hugging Face model folder (bertscope runs it on the data)");
  if (traces_allowed) {
    auto* traces = cmd.add_option(
        "--traces", args.traces,
        "Folder of trace .npz files (000000.npz, ... one per data input, as `bertscope run --input` writes)");
    model->excludes(traces);
  } else {
    model->required();
  }
  cmd.add_option("--data", args.data, "Data file")->required();
  cmd.add_option("--out", args.out, "Write the result JSON document here");
  cmd.add_option("--batch-size", args.batch, "Inputs per forward pass")->check(CLI::PositiveNumber);
  cmd.add_flag("--truncate", args.truncate, "Truncate over-long inputs instead of failing");
  add_threads_option(cmd, args.threads);
}

void add_distributed_options(CLI::App& cmd, AnalyzeArgs& args) {
  args.distributed = true;
  add_resume_option(cmd, args.resume);
}

AnalyzeContext open_analyze(const AnalyzeArgs& args, const std::string& label) {
  apply_threads(args.threads);
  if (args.model.empty() && args.traces.empty()) fail(ErrorKind::input, "give --model DIR or --traces DIR");
  AnalyzeContext ctx;
  if (!args.model.empty()) ctx.model = std::make_unique<model::Model>(model::Model::load(args.model));
  ctx.label = label;
  if (args.distributed) {
    std::vector<std::string> inputs{args.data};
    inputs.push_back(args.model.empty() ? args.traces : args.model);
    ctx.runner = std::make_unique<dist::Runner>(checkpoint_of(args.out, args.resume, inputs));
  }
  return ctx;
}

analysis::runs::Subject subject(const AnalyzeArgs& args, const AnalyzeContext& ctx) {
  return {ctx.model.get(), args.model, args.traces};
}

analysis::runs::Common common_options(const AnalyzeArgs& args, AnalyzeContext& ctx) {
  analysis::runs::Common c;
  c.data = args.data;
  c.batch_size = args.batch;
  c.truncate = args.truncate;
  c.runner = ctx.runner.get();
  // The total is known only once the library has read the inputs: the display starts then.
  auto* progress = &ctx.progress;
  std::int64_t last = 0;
  std::string label = ctx.label;
  c.progress = [progress, last, label](std::size_t done, std::size_t total) mutable {
    if (!*progress) *progress = std::make_unique<Progress>(label, static_cast<std::int64_t>(total));
    (*progress)->advance(static_cast<std::int64_t>(done) - last);
    last = static_cast<std::int64_t>(done);
  };
  return c;
}

void finish_analyze(const AnalyzeArgs& args, AnalyzeContext& ctx, report::ResultDocument doc, const std::string& table) {
  if (ctx.runner) doc.execution = execution_record(*ctx.runner);
  // Under mpirun only process 0 writes and prints; every process holds the merged result.
  if (!dist::writer()) return;
  if (!args.out.empty()) report::write_results(args.out, doc);
  if (ctx.runner) ctx.runner->finish();
  fmt::print("{}", table);
  if (!args.out.empty()) fmt::print("wrote {}\n", args.out);
}

}  // namespace bertscope::cli
