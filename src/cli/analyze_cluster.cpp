#include <fmt/format.h>

#include "analysis/cluster.hpp"
#include "analysis/runs.hpp"
#include "cli/analyze.hpp"
#include "cli/analyze_text_inputs.hpp"

namespace bertscope::cli {

namespace {

namespace cl = analysis::cluster;

void add_cluster(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    SegmentArgs seg;
    cl::Options options;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "cluster",
      "Clark et al.'s head clustering: the Jensen-Shannon divergence between every pair of heads' attention rows "
      "(smoothed 0.999 p + 0.001/n), summed over all query tokens of the data in one streaming pass, and a 2-D metric "
      "MDS layout of the heads (SMACOF from classical MDS). --data as for `analyze surface`.");
  add_analyze_options(*cmd, args->common);
  add_distributed_options(*cmd, args->common);
  add_segment_options(*cmd, args->seg);
  cmd->add_option("--smoothing", args->options.smoothing, "s in (1 - s) p + s / n (Clark: 0.001)");
  cmd->add_option("--mds-iterations", args->options.mds.max_iterations, "SMACOF iterations at most (1000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--mds-eps", args->options.mds.eps, "SMACOF stops when the stress falls by less than eps x stress (1e-10)");
  cmd->callback([args] {
    auto& a = args->common;
    auto ctx = open_analyze(a, "cluster");
    const auto out = analysis::runs::cluster(subject(a, ctx), common_options(a, ctx), text_input_options(args->seg), args->options);
    if (ctx.progress) ctx.progress->finish();
    finish_analyze(a, ctx, out.document, out.table);
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 60, add_cluster);

}  // namespace bertscope::cli
