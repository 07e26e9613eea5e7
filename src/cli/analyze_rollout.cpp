#include <fmt/format.h>

#include "analysis/rollout.hpp"
#include "analysis/runs.hpp"
#include "cli/analyze.hpp"
#include "cli/analyze_text_inputs.hpp"
#include "io/error.hpp"

namespace bertscope::cli {

namespace {

namespace ro = analysis::rollout;

void add_rollout(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    SegmentArgs seg;
    ro::Options options;
    std::string positions = "0";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "rollout",
      "Attention rollout (Abnar & Zuidema 2020): per layer the head-averaged attention with the residual, "
      "rownorm(0.5 W + 0.5 I), multiplied from the first layer up, so row q of R_l says how much of each input token "
      "position q holds after layer l; rows sum to 1. Reports the rows of the chosen output positions (and the raw "
      "head-averaged attention beside them); --matrix or --positions all add each input's [T, T] matrix. --data: one "
      "text per line (a tab separates a pair), or running text with --segments.");
  add_analyze_options(*cmd, args->common);
  add_distributed_options(*cmd, args->common);
  add_segment_options(*cmd, args->seg);
  cmd->add_option("--layer", args->options.layer, "0-based layer whose output is explained (default -1: the last)");
  cmd->add_option("--positions", args->positions, "Output positions: comma-separated (0 = [CLS], -1 = last) or all");
  cmd->add_option("--residual", args->options.residual, "Weight of the identity (residual) term (0.5)")->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--matrix", args->options.matrices, "Also write each input's [T, T] rollout matrix at the layer");
  cmd->callback([args] {
    auto& a = args->common;
    ro::parse_positions(args->positions, args->options);
    auto ctx = open_analyze(a, "rollout");
    const auto out = analysis::runs::rollout(subject(a, ctx), common_options(a, ctx), text_input_options(args->seg), args->options);
    if (ctx.progress) ctx.progress->finish();
    finish_analyze(a, ctx, out.document, out.table);
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 72, add_rollout);

}  // namespace bertscope::cli
