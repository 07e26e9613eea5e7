#include <fmt/format.h>

#include "analysis/probe.hpp"
#include "analysis/runs.hpp"
#include "cli/analyze.hpp"
#include "cli/distributed.hpp"
#include "io/conllu.hpp"
#include "io/error.hpp"

namespace bertscope::cli {

namespace {

namespace pr = analysis::probe;

void add_probe(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    pr::Options options;
    std::string dev, dev_traces, vectors, weights, from = "mean";
    std::vector<std::string> kinds;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "probe",
      "Clark et al.'s attention-based probing classifiers for dependency parsing: trained on a CoNLL-U file (--data) "
      "and evaluated as UAS (punct excluded) on another (--dev). Probes: attn (a weight per head and direction), "
      "attn_words (weights that depend on the two words' vectors, --word-vectors in GloVe text format), distances (an "
      "MLP on distance features and word vectors, no attention). Sentences longer than the model allows are skipped "
      "and counted.");
  add_analyze_options(*cmd, args->common);
  cmd->add_option("--dev", args->dev, "CoNLL-U file to evaluate on")->required();
  cmd->add_option("--dev-traces", args->dev_traces, "With --traces: the folder of trace files for --dev");
  cmd->add_option("--word-vectors", args->vectors, "Word vectors, GloVe text format (\"word v1 ... vd\" per line)");
  cmd->add_option("--probe", args->kinds,
                  "Probes to train: attn, attn_words, distances (default: attn, plus the other two with --word-vectors)")
      ->delimiter(',');
  cmd->add_option("--epochs", args->options.epochs, "Passes over the training file (Clark: 1)")->check(CLI::PositiveNumber);
  cmd->add_option("--learning-rate", args->options.learning_rate, "Adam learning rate (Clark: 0.002)");
  cmd->add_option("--seed", args->options.seed, "Seed of the initial weights");
  cmd->add_option("--hidden", args->options.hidden, "Hidden units of the distances MLP (Clark: 256)")->check(CLI::PositiveNumber);
  cmd->add_flag("--shifted-words", args->options.shifted_words,
                "Reproduce Clark's code quirk: word vectors one candidate column off (their 78.0 UAS)");
  cmd->add_option("--from", args->from, "Attention from a split word: mean of its pieces (the paper) or first piece")
      ->check(CLI::IsMember({"mean", "first"}));
  cmd->add_option("--weights", args->weights, "Save the trained weights here (.npz)");
  cmd->callback([args] {
    auto& a = args->common;
    args->options.from = analysis::parse_from_word(args->from);
    auto ctx = open_analyze(a, "probe");
    const analysis::runs::ProbeChoice choice{args->dev, args->dev_traces, args->vectors, args->weights, args->kinds};
    auto out = analysis::runs::probe(subject(a, ctx), common_options(a, ctx), choice, args->options);
    if (ctx.progress) ctx.progress->finish();
    out.document.execution = execution_record();  // spread over the processes, nothing kept to resume
    finish_analyze(a, ctx, out.document, out.table);
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 40, add_probe);

}  // namespace bertscope::cli
