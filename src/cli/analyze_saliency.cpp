#include <fmt/format.h>

#include "analysis/saliency.hpp"
#include "analysis/runs.hpp"
#include "cli/analyze.hpp"
#include "cli/analyze_text_inputs.hpp"
#include "cli/task_options.hpp"
#include "io/error.hpp"

namespace bertscope::cli {

namespace {

namespace sl = analysis::saliency;

void add_saliency(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    SegmentArgs seg;
    TaskArgs task;
    sl::TargetSpec target;
    std::string baseline = "zero", rule = "trapezoid";
    sl::Options options;
    bool no_ig = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "saliency",
      "Token attributions on the input word embeddings: gradient x input and integrated gradients (zero, [PAD] or "
      "[MASK] baseline; the completeness error sum - (F(x) - F(baseline)) is reported per input) for one output F: a "
      "class logit (--class, sequence classifiers), an MLM token logit at a position (--position, --token), or the "
      "difference of two (--minus-class, --minus-token). --data: one text per line, a tab separating a pair; or a task "
      "TSV with a header (sentence/label, ...; or the --task options), whose gold labels are shown beside the predictions.");
  add_analyze_options(*cmd, args->common, false);
  add_distributed_options(*cmd, args->common);
  add_segment_options(*cmd, args->seg);
  add_task_options(*cmd, args->task);
  cmd->add_option("--class", args->target.cls, "Class logit to explain: a number or label name, or pred (default: the prediction)");
  cmd->add_option("--minus-class", args->target.minus_cls, "Explain the class logit minus this class's logit");
  cmd->add_option("--position", args->target.position, "MLM target: token position (0-based), or mask for the first [MASK] (default)");
  cmd->add_option("--token", args->target.token, "MLM target: the vocabulary token whose logit to explain, or pred (default)");
  cmd->add_option("--minus-token", args->target.minus_token, "MLM target: subtract this token's logit (e.g. --token is --minus-token are)");
  cmd->add_option("--baseline", args->baseline, "Integrated-gradients baseline: zero, pad or mask embeddings")
      ->check(CLI::IsMember({"zero", "pad", "mask"}));
  cmd->add_flag("--keep-special", args->options.keep_special, "[CLS] and [SEP] keep their own embeddings in the baseline");
  cmd->add_option("--steps", args->options.steps, "Integration intervals (50)")->check(CLI::Range(1, 100000));
  cmd->add_option("--rule", args->rule,
                  "Quadrature: trapezoid (steps + 1 points, default), midpoint (steps points) or uniform (steps + 1 equal "
                  "weights, as Lu et al.'s code)")
      ->check(CLI::IsMember({"trapezoid", "midpoint", "uniform"}));
  cmd->add_flag("--no-ig", args->no_ig, "Gradient x input only");
  cmd->callback([args] {
    auto& a = args->common;
    auto ctx = open_analyze(a, "saliency");
    auto& o = args->options;
    o.baseline = sl::parse_baseline(args->baseline);
    o.rule = sl::parse_rule(args->rule);
    o.integrated = !args->no_ig;
    const auto out = analysis::runs::saliency(*ctx.model, a.model, common_options(a, ctx), text_input_options(args->seg),
                                              task_spec(args->task), args->target, o);
    if (ctx.progress) ctx.progress->finish();
    finish_analyze(a, ctx, out.document, out.table);
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 71, add_saliency);

}  // namespace bertscope::cli
