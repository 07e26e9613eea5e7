#include "analysis/features.hpp"
#include "analysis/runs.hpp"
#include "cli/analyze.hpp"
#include "cli/task_options.hpp"

namespace bertscope::cli {

namespace {

namespace ft = analysis::features;

void add_features(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    TaskArgs task;
    std::vector<std::string> features, links;
    std::string pairing = "all", missing = "skip", span_filter = "kovaleva";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "features",
      "Attention to linguistic features per head (Kovaleva et al. 2019): for each feature, the largest attention any "
      "of its tokens receives (mean over queries, i.e. normalised by length) and the attention from [CLS]; for each "
      "link, the largest attention from one token set to another (e.g. FrameNet frame element -> target, subject -> "
      "verb). Without --feature/--link the paper's features for the data format are used.");
  add_analyze_options(*cmd, args->common);
  add_distributed_options(*cmd, args->common);
  add_task_options(*cmd, args->task);
  cmd->add_option("--feature", args->features,
                  "NAME=SELECTOR (cls, sep, neg, pron, noun, verb, subj, obj, words:a,b, words@FILE, upos:X, xpos:X, "
                  "deprel:x, span:target|fe|fe-all|NAME); repeatable");
  cmd->add_option("--link", args->links, "NAME=FROM>TO with two selectors, or NAME=arc:REL[/UPOS] / rarc:REL (CoNLL-U); repeatable");
  cmd->add_option("--pairing", args->pairing, "Link token pairs: all (the paper's text) or zip (the paper's code)")
      ->check(CLI::IsMember({"all", "zip"}));
  cmd->add_option("--missing", args->missing,
                  "Inputs without the feature: skip (the paper's text) or count as 0 (its code, except for negation)")
      ->check(CLI::IsMember({"skip", "zero"}));
  cmd->add_option("--span-filter", args->span_filter,
                  "Span data: kovaleva (the paper's FrameNet sentence filter, default) or none")
      ->check(CLI::IsMember({"kovaleva", "none"}));
  cmd->callback([args] {
    const auto& a = args->common;
    auto ctx = open_analyze(a, "features");
    const analysis::runs::FeatureChoice choice{args->features, args->links, args->pairing, args->missing, args->span_filter};
    const auto out = analysis::runs::features(subject(a, ctx), common_options(a, ctx), task_spec(args->task), choice);
    if (ctx.progress) ctx.progress->finish();
    finish_analyze(a, ctx, out.document, out.table);
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 40, add_features);

}  // namespace bertscope::cli
