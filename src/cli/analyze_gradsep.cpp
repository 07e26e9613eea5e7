#include <fmt/format.h>

#include "analysis/gradsep.hpp"
#include "analysis/runs.hpp"
#include "cli/analyze.hpp"
#include "cli/analyze_text_inputs.hpp"

namespace bertscope::cli {

namespace {

namespace gs = analysis::gradsep;

void add_gradsep(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    SegmentArgs seg;
    gs::Options options;
  };
  auto args = std::make_shared<Args>();
  args->common.batch = 8;
  auto* cmd = analyze.add_subcommand(
      "gradsep",
      "Clark et al.'s Figure 3: the mean |dL/dA| of the masked-language-model loss with respect to the attention "
      "probabilities, per layer (averaged over heads and queries), for keys that are [SEP], '.' or ',', or any other "
      "unmasked token. Inputs are masked as in BERT pre-training (15%, 80/10/10, --mask-seed). --data: running text "
      "with --segments (Clark's [CLS] A [SEP] B [SEP] segments), or one text per line (a tab separates a pair).");
  add_analyze_options(*cmd, args->common, false);
  add_distributed_options(*cmd, args->common);
  add_segment_options(*cmd, args->seg);
  cmd->add_option("--mask-prob", args->options.masking.mask_prob, "Fraction of tokens masked (0.15)")->check(CLI::Range(1e-9, 1.0));
  cmd->add_option("--mask-seed", args->options.masking.seed, "Seed of the masking (0)");
  cmd->add_flag("--sum-loss", args->options.sum_loss, "L = the sum of the masked tokens' cross-entropies (default: their mean)");
  cmd->add_option("--punct-tokens", args->options.punct_tokens, "Tokens that count as punctuation (default: . ,)");
  cmd->callback([args] {
    auto& a = args->common;
    auto ctx = open_analyze(a, "gradsep");
    const auto out = analysis::runs::gradsep(*ctx.model, a.model, common_options(a, ctx), text_input_options(args->seg),
                                             args->options);
    if (ctx.progress) ctx.progress->finish();
    finish_analyze(a, ctx, out.document, out.table);
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 65, add_gradsep);

}  // namespace bertscope::cli
