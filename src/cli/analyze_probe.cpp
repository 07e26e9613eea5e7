#include <fmt/format.h>

#include "analysis/probe.hpp"
#include "cli/analyze.hpp"
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
    args->options.kinds.clear();
    if (args->kinds.empty()) {
      args->options.kinds.push_back(pr::Kind::attn);
      if (!args->vectors.empty()) {
        args->options.kinds.push_back(pr::Kind::attn_words);
        args->options.kinds.push_back(pr::Kind::distances);
      }
    }
    for (const auto& k : args->kinds) args->options.kinds.push_back(pr::parse_kind(k));
    if (!a.traces.empty() && args->dev_traces.empty()) fail(ErrorKind::input, "--traces needs --dev-traces for the --dev file");
    if (a.traces.empty() && !args->dev_traces.empty()) fail(ErrorKind::input, "--dev-traces goes with --traces");
    const auto train = io::read_conllu(a.data);
    const auto dev = io::read_conllu(args->dev);
    std::optional<pr::WordVectors> vectors;
    if (!args->vectors.empty()) {
      auto wanted = pr::lowercase_words(train);
      wanted.merge(pr::lowercase_words(dev));
      vectors = pr::read_word_vectors(args->vectors, wanted);
    }
    auto ctx = open_analyze(a, "probe", train.size() * args->options.epochs + dev.size());
    std::optional<analysis::AttentionSource> dev_traces;
    if (!args->dev_traces.empty()) dev_traces = analysis::AttentionSource::from_traces(args->dev_traces);
    auto& dev_source = dev_traces ? *dev_traces : *ctx.source;
    auto so = source_options(a, ctx);
    // The progress callback counts per pass; keep one running total across the passes.
    auto* progress = ctx.progress.get();
    std::size_t last = 0;
    so.progress = [progress, &last](std::size_t done, std::size_t) {
      if (done < last) last = 0;
      progress->advance(static_cast<std::int64_t>(done - last));
      last = done;
    };
    const auto r = pr::run(*ctx.source, train, a.data, dev_source, dev, args->dev, vectors ? &*vectors : nullptr, so,
                           args->options, args->weights);
    ctx.progress->finish();
    report::ResultDocument doc;
    doc.method = "probe";
    doc.model = ctx.model_json;
    if (dev_traces) doc.model["dev_traces"] = args->dev_traces;
    doc.data = {{"train", a.data}, {"dev", args->dev}, {"train_sentences", train.size()}, {"dev_sentences", dev.size()}};
    doc.params = pr::params_json(args->options, args->vectors);
    if (!args->weights.empty()) doc.params["weights_file"] = args->weights;
    doc.results = pr::to_json(r);
    finish_analyze(a, doc, pr::table(r));
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 40, add_probe);

}  // namespace bertscope::cli
