#include <fmt/format.h>

#include "analysis/coref.hpp"
#include "analysis/runs.hpp"
#include "cli/analyze.hpp"
#include "io/coref.hpp"
#include "io/error.hpp"

namespace bertscope::cli {

namespace {

namespace cr = analysis::coref;

void add_coref(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    cr::Options options;
    std::string from = "mean", format = "auto";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "coref",
      "Clark et al.'s coreference in single heads: per head, how often a mention's head word attends most to the head "
      "word of an antecedent (antecedent selection accuracy), by anaphor type (pronoun / proper / nominal), with the "
      "nearest-mention, head-word-match and rule-sieve baselines. --data: bertscope's simple coreference format "
      "(JSON Lines), a GAP .tsv or a CoNLL-2012 *_conll file (see docs/analyses/clark.md). Documents are cut to "
      "--max-tokens word pieces.");
  add_analyze_options(*cmd, args->common);
  add_distributed_options(*cmd, args->common);
  cmd->add_option("--format", args->format, "Data format: auto (from the name), jsonl, gap or conll2012")
      ->check(CLI::IsMember({"auto", "jsonl", "gap", "conll2012"}));
  cmd->add_option("--from", args->from, "Attention from a split word: mean of its pieces (the paper) or first piece")
      ->check(CLI::IsMember({"mean", "first"}));
  cmd->add_option("--max-tokens", args->options.max_tokens,
                  "Cut documents to this many word pieces, [CLS]/[SEP] included (Clark: 128; 0 = the model's limit)");
  cmd->callback([args] {
    auto& a = args->common;
    args->options.from = analysis::parse_from_word(args->from);
    auto ctx = open_analyze(a, "coref");
    const auto out = analysis::runs::coref(subject(a, ctx), common_options(a, ctx), args->format, args->options);
    if (ctx.progress) ctx.progress->finish();
    finish_analyze(a, ctx, out.document, out.table);
  });
}

void add_coref_convert(CLI::App& app) {
  struct Args {
    std::string gap, conll, out;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "coref-convert",
      "Convert GAP (.tsv) or CoNLL-2012 (*_conll) coreference data to bertscope's simple JSON Lines format, which "
      "`bertscope analyze coref` reads (and which is easy to write from any other source).");
  auto* gap = cmd->add_option("--gap", args->gap, "GAP .tsv file");
  auto* conll = cmd->add_option("--conll2012", args->conll, "CoNLL-2012 *_conll file");
  gap->excludes(conll);
  cmd->add_option("--out", args->out, "Output .jsonl")->required();
  cmd->callback([args, gap, conll] {
    if (gap->count() == 0 && conll->count() == 0) throw CLI::RequiredError("--gap or --conll2012");
    const auto docs = gap->count() ? io::read_gap(args->gap) : io::read_conll2012(args->conll);
    io::write_coref(args->out, docs);
    std::size_t mentions = 0;
    for (const auto& d : docs) mentions += d.mentions.size();
    fmt::print("wrote {} documents ({} mentions) to {}\n", docs.size(), mentions, args->out);
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 30, add_coref);
BERTSCOPE_COMMAND("", 85, add_coref_convert);

}  // namespace bertscope::cli
