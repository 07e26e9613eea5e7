#include "analysis/runs.hpp"
#include "analysis/syntax.hpp"
#include "cli/analyze.hpp"

namespace bertscope::cli {

namespace {

namespace sx = analysis::syntax;

void add_syntax(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    sx::Options options;
    std::string from = "mean";
    bool no_poss_rule = false;
    std::size_t rows = 20;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "syntax",
      "Clark et al.'s dependency relations in single heads, on a CoNLL-U treebank (--data): for every relation and "
      "head, the accuracy of predicting each word's head as the word it attends to most (dep_to_head) or the word that "
      "attends most to it (head_to_dep), the best head per relation, and the fixed-offset baseline (offsets -3..+2). "
      "Sentences longer than the model allows are skipped and counted (--truncate cuts them; words past the cut are not "
      "scored). With --traces, trace i must hold sentence i with word_ids indexing its CoNLL-U words, as "
      "`bertscope run --input FILE.conllu` writes.");
  add_analyze_options(*cmd, args->common);
  add_distributed_options(*cmd, args->common);
  cmd->add_option("--from", args->from,
                  "Attention from a split word: mean of its pieces' rows (the paper) or first piece's row (Clark's code)")
      ->check(CLI::IsMember({"mean", "first"}));
  cmd->add_flag("--base-relations", args->options.base_relations, "Use the relation before ':' (nmod:poss -> nmod)");
  cmd->add_flag("--no-poss-rule", args->no_poss_rule, "Score poss words on their own prediction, not that of a following 's");
  cmd->add_option("--rows", args->rows, "Relations in the printed table (all are in --out)");
  cmd->callback([args] {
    auto& a = args->common;
    args->options.from = analysis::parse_from_word(args->from);
    args->options.poss_rule = !args->no_poss_rule;
    auto ctx = open_analyze(a, "syntax");
    const auto out = analysis::runs::syntax(subject(a, ctx), common_options(a, ctx), args->options, args->rows);
    if (ctx.progress) ctx.progress->finish();
    finish_analyze(a, ctx, out.document, out.table);
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 20, add_syntax);

}  // namespace bertscope::cli
