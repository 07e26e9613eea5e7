#include <fmt/format.h>

#include "analysis/flow.hpp"
#include "analysis/runs.hpp"
#include "cli/analyze.hpp"
#include "cli/analyze_text_inputs.hpp"

namespace bertscope::cli {

namespace {

namespace fl = analysis::flow;

void add_flow(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    SegmentArgs seg;
    fl::Options options;
    std::string positions = "0";
    bool cold = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "flow",
      "Attention flow (Abnar & Zuidema 2020): the maximum flow from an output position after a layer to each input "
      "token through the layered graph whose edge capacities are rollout's residual-augmented head-averaged attention, "
      "normalised so each output's flows sum to 1 (flow_raw keeps the max-flow values; rollout's row is given beside "
      "it). All tokens of one output position are solved on one network: Dinic's algorithm, warm-started from the "
      "previous token's flow. --data: one text per line (a tab separates a pair), or running text with --segments.");
  add_analyze_options(*cmd, args->common);
  add_distributed_options(*cmd, args->common);
  add_segment_options(*cmd, args->seg);
  cmd->add_option("--layer", args->options.where.layer, "0-based layer whose output is explained (default -1: the last)");
  cmd->add_option("--positions", args->positions, "Output positions: comma-separated (0 = [CLS], -1 = last) or all");
  cmd->add_option("--residual", args->options.where.residual, "Weight of the identity (residual) term (0.5)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--matrix", args->options.where.matrices, "Also write each input's [positions, T] flow matrix");
  cmd->add_flag("--cold", args->cold, "Solve every (output, token) pair from zero flow (for timing the warm start)");
  cmd->callback([args] {
    auto& a = args->common;
    analysis::rollout::parse_positions(args->positions, args->options.where);
    args->options.warm_start = !args->cold;
    auto ctx = open_analyze(a, "flow");
    const auto out = analysis::runs::flow(subject(a, ctx), common_options(a, ctx), text_input_options(args->seg), args->options);
    if (ctx.progress) ctx.progress->finish();
    finish_analyze(a, ctx, out.document, out.table);
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 73, add_flow);

}  // namespace bertscope::cli
