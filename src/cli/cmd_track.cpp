#include <memory>

#include <fmt/format.h>

#include "analysis/track.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "report/results.hpp"

namespace bertscope::cli {

namespace {

void add_track_command(CLI::App& app) {
  struct Args {
    std::string checkpoints, out;
    // The main job's data (scripts/run_suite.sh), relative to the repository.
    std::string data = "data/prose/a_tale_of_two_cities.sentences.txt";
    std::string ud = "data/ud_ewt/en_ewt-ud-dev.conllu";
    std::vector<std::string> agreement{"data/marvin_linzen/simple_agrmt.sample.tsv", "data/marvin_linzen/subj_rel.sample.tsv"};
    bool lines = false, split_words = false;
    analysis::track::Options options;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  args->options.text_inputs.segment.max_segments = 300;  // the main job's
  auto* cmd = app.add_subcommand(
      "track",
      "Training dynamics: the main job's head statistics over a model's checkpoints (the step-NNNNNN folders of "
      "`train mlm --keep-every`, or any folders of Hugging Face checkpoints), one document of each against training "
      "step: Clark et al.'s previous/next-token heads, attention to [SEP] per layer, the best head per dependency "
      "relation against the best fixed-offset baseline, and the MLM's subject-verb agreement accuracy. One checkpoint "
      "is loaded at a time.");
  cmd->add_option("--checkpoints", args->checkpoints,
                  "Folder of checkpoint folders (or a training folder with steps/); the step comes from each one's "
                  "step.json, else from the digits that end its name")
      ->required();
  cmd->add_option("--out", args->out, "Write the result JSON document here");
  cmd->add_option("--data", args->data, "Running text for the attention statistics, cut into Clark et al.'s segments")
      ->capture_default_str();
  cmd->add_flag("--lines", args->lines, "--data is one text per line (a tab separates a pair), not running text");
  cmd->add_option("--max-segments", args->options.text_inputs.segment.max_segments, "Segments of --data (0 = all)")
      ->capture_default_str();
  cmd->add_option("--segment-length", args->options.text_inputs.segment.max_sequence_length, "Word pieces per segment")
      ->check(CLI::Range(5, 100000))
      ->capture_default_str();
  cmd->add_option("--ud", args->ud, "CoNLL-U treebank for the syntax statistics")->capture_default_str();
  cmd->add_option("--agreement", args->agreement, "Agreement data files (Marvin & Linzen TSV, BLiMP JSONL, templates)")
      ->capture_default_str();
  cmd->add_option("--max-examples", args->options.selection.limit, "At most this many agreement examples per file (0 = all)")
      ->capture_default_str();
  cmd->add_flag("--split-words", args->split_words,
                "Also keep agreement examples whose words split into several word pieces (as analyze influence)");
  cmd->add_option("--min-relation-count", args->options.min_relation_count, "Relations with at least this many words")
      ->capture_default_str();
  cmd->add_option("--positional-threshold", args->options.positional_threshold,
                  "A positional head attends at least this much to the previous or next token")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--batch-size", args->options.batch_size, "Inputs per forward pass")->check(CLI::PositiveNumber);
  add_threads_option(*cmd, args->threads);
  cmd->callback([args] {
    apply_threads(args->threads);
    auto o = args->options;
    o.text = args->data;
    o.text_inputs.segments = !args->lines;
    o.ud = args->ud;
    o.agreement = args->agreement;
    o.selection.single_pieces = !args->split_words;
    std::unique_ptr<Progress> progress;
    const auto doc = analysis::track::run(args->checkpoints, o, [&](std::size_t done, std::size_t total) {
      if (!progress) progress = std::make_unique<Progress>("track", static_cast<std::int64_t>(total));
      if (done > 0) progress->advance();
    });
    if (progress) progress->finish();
    fmt::print("{}", analysis::track::table(doc));
    if (!args->out.empty()) {
      report::write_results(args->out, doc);
      fmt::print("wrote {}\n", args->out);
    }
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 58, add_track_command);

}  // namespace bertscope::cli
