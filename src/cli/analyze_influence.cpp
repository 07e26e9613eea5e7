#include <fmt/format.h>

#include "analysis/influence_run.hpp"
#include "analysis/runs.hpp"
#include "cli/agreement_options.hpp"
#include "cli/commands.hpp"
#include "cli/distributed.hpp"
#include "dist/processes.hpp"
#include "cli/progress.hpp"
#include "report/results.hpp"

namespace bertscope::cli {

namespace {

namespace inf = analysis::influence;

struct Args {
  std::string model, out;
  AgreementArgs data;
  int threads = 0;
  std::size_t batch = 16;
  std::int64_t steps = 50, max_rows = 8192, length = 0;
  std::string baseline = "mask", sources = "all", replacement = "zero", algorithm = "sweep";
  std::size_t max_examples = 1000, per_form = 250, ablation_tokens = 3, optimality_samples = 0;
  std::uint64_t seed = 1111, optimality_seed = 1;
  double residual = 0.5;
  std::string attention_direction = "key-to-query";
  bool no_shuffle = false, split_words = false, no_patterns = false, verify = false, no_ablation = false;
  bool resume = false;
};

void run_influence(const Args& args) {
  apply_threads(args.threads);
  inf::RunOptions o;
  o.steps = args.steps;
  o.max_rows = args.max_rows;
  o.baseline = args.baseline;
  o.sources = args.sources;
  o.patterns = !args.no_patterns;
  o.verify = args.verify;
  o.algorithm = args.algorithm;
  o.ablation_tokens = args.no_ablation ? 0 : args.ablation_tokens;
  o.replacement = args.replacement;
  o.residual = args.residual;
  o.attention_direction = args.attention_direction;
  o.batch_size = args.batch;
  o.optimality_samples = args.optimality_samples;
  o.optimality_seed = args.optimality_seed;
  o.selection.length = args.length;
  o.selection.single_pieces = !args.split_words;
  o.selection.per_form = args.per_form;
  o.selection.limit = args.max_examples;
  o.selection.seed = args.seed;
  o.selection.shuffle = !args.no_shuffle;
  inf::parse_sources(o.sources);  // a bad --sources fails before the model loads
  auto inputs = args.data.data;
  inputs.push_back(args.model);
  dist::Runner runner(checkpoint_of(args.out, args.resume, inputs));
  const auto model = model::Model::load(args.model);
  std::unique_ptr<Progress> progress;
  auto run = analysis::runs::influence(model, args.model, args.data.data, analysis::runs::data_options(args.data.choice), o,
                                       [&](std::size_t, std::size_t total) {
                                         if (!progress) progress = std::make_unique<Progress>("influence", static_cast<std::int64_t>(total));
                                         progress->advance();
                                       },
                                       &runner);
  if (progress) progress->finish();
  run.document.execution = execution_record(runner);
  if (!dist::writer()) return;
  if (!args.out.empty()) report::write_results(args.out, run.document);
  runner.finish();
  fmt::print("{}", run.table);
  if (!args.out.empty()) fmt::print("wrote {}\n", args.out);
}

void add_influence(CLI::App& analyze) {
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "influence",
      "Influence patterns (Lu et al. 2021): for agreement minimal pairs (Marvin & Linzen TSV, BLiMP JSONL, templates) "
      "or a classifier's task TSV, the quantity of interest logit(good) - logit(bad), each token's integrated-gradients "
      "attribution, and per source token the path of Guided Pattern Refinement (one position per layer, then per block "
      "one head or the skip connection) with its influence per layer; per task the model's accuracy per sentence form, "
      "the share of blocks that go through the skip connection, pattern consistency, and an ablation check that keeps "
      "only the nodes on the patterns against attention paths and a layer integrated-gradients stand-in with the same "
      "node budget; optionally the random-pattern optimality test.");
  cmd->add_option("--model", args->model, "Hugging Face model folder (MLM head for agreement data)")->required();
  add_agreement_options(*cmd, args->data);
  cmd->add_option("--out", args->out, "Write the result JSON document here");
  cmd->add_option("--steps", args->steps, "Integration steps m: alpha = k/m for k = 0..m (50)")->check(CLI::Range(1, 100000));
  cmd->add_option("--baseline", args->baseline, "Baseline word embeddings: mask (default, as Lu et al.), zero or pad")
      ->check(CLI::IsMember({"mask", "zero", "pad"}));
  cmd->add_option("--sources", args->sources,
                  "Source tokens: all (every token but the target, default), or comma-separated roles (subject, attractor) "
                  "and 0-based positions");
  cmd->add_option("--max-examples", args->max_examples, "At most this many examples per data file (1000; 0 = all)");
  cmd->add_option("--per-form", args->per_form, "At most this many examples per sentence form, or per gold class for a classifier (250; 0 = no quota)");
  cmd->add_option("--length", args->length,
                  "Keep examples of this token length (with [CLS]/[SEP]); 0 = the most common one (default), -1 = any");
  cmd->add_option("--seed", args->seed, "Shuffle seed before the quotas (1111)");
  cmd->add_flag("--no-shuffle", args->no_shuffle, "Take the first examples in file order");
  cmd->add_flag("--split-words", args->split_words, "Also keep examples whose words split into several word pieces");
  cmd->add_flag("--no-patterns", args->no_patterns, "Only QoI, attributions and accuracy (no pattern search, no ablation)");
  cmd->add_flag("--verify", args->verify, "Recompute each pattern's influence with reverse-mode gradients alone");
  cmd->add_option("--algorithm", args->algorithm,
                  "How GPR computes node values: sweep (one forward-mode pass per stage that restricts as it decides; "
                  "default) or per-layer (a pass per layer and stage: the reference)")
      ->check(CLI::IsMember({"sweep", "per-layer"}));
  cmd->add_option("--ablation-tokens", args->ablation_tokens,
                  "Ablation check: keep the paths of this many source tokens per example, those with the largest "
                  "|attribution| (3; 0 = no ablation)");
  cmd->add_option("--ablation-value", args->replacement, "What replaces the nodes off the paths: zero (default), baseline "
                                                        "(the node's value on the baseline input) or mean (its mean over "
                                                        "the task's examples, per position)")
      ->check(CLI::IsMember({"zero", "baseline", "mean"}));
  cmd->add_flag("--no-ablation", args->no_ablation, "Skip the ablation check");
  cmd->add_option("--attention-residual", args->residual, "Identity weight of Â for the attention-path baselines (0.5)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--attention-direction", args->attention_direction,
                  "How attention paths walk: key-to-query (information flow; default) or query-to-key (Lu et al.'s code)")
      ->check(CLI::IsMember({"key-to-query", "query-to-key"}));
  cmd->add_option("--optimality-samples", args->optimality_samples,
                  "Random-pattern optimality test (Lu et al.'s, who used 100): compare each pattern's influence with "
                  "this many random patterns from its source, one backward pass each (0 = off, default)");
  cmd->add_option("--optimality-seed", args->optimality_seed, "Seed of the optimality test's random patterns (1)");
  cmd->add_option("--batch-size", args->batch, "Inputs per forward pass for the ablation and attention runs")->check(CLI::PositiveNumber);
  cmd->add_option("--max-rows", args->max_rows,
                  "Token rows (alpha points x tokens) per recorded forward pass; more are split (memory)")
      ->check(CLI::PositiveNumber);
  add_threads_option(*cmd, args->threads);
  add_resume_option(*cmd, args->resume);
  cmd->callback([args] { run_influence(*args); });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 75, add_influence);

}  // namespace bertscope::cli
