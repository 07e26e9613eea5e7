#include "analysis/runs.hpp"
#include "analysis/surface.hpp"
#include "cli/analyze.hpp"
#include "cli/analyze_text_inputs.hpp"

namespace bertscope::cli {

namespace {

namespace sf = analysis::surface;

void add_surface(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    SegmentArgs seg;
    sf::Options options;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "surface",
      "Clark et al.'s surface statistics per head: attention to the token itself, the previous and next token, [CLS], "
      "[SEP], '.' and ',', [SEP]->[SEP] and other->[SEP], entropy and entropy from [CLS], layer means, and each head's "
      "behaviour (broad / prev / next / cls / sep / punct / none). --data: one text per line (a tab separates a pair), "
      "or running text with --segments. Inputs longer than the model allows are skipped and counted (--truncate cuts "
      "them instead).");
  add_analyze_options(*cmd, args->common);
  add_distributed_options(*cmd, args->common);
  add_segment_options(*cmd, args->seg);
  cmd->add_option("--punct-tokens", args->options.punct_tokens, "Tokens that count as punctuation (default: . ,)");
  cmd->add_option("--position-threshold", args->options.position_threshold, "prev/next label when above (0.5)");
  cmd->add_option("--broad-entropy", args->options.broad_entropy, "broad label when the entropy is above (3.8 nats)");
  cmd->add_option("--special-threshold", args->options.special_threshold, "cls/sep/punct label when above (0.6)");
  cmd->callback([args] {
    auto& a = args->common;
    auto ctx = open_analyze(a, "surface");
    const auto out = analysis::runs::surface(subject(a, ctx), common_options(a, ctx), text_input_options(args->seg),
                                             args->options);
    if (ctx.progress) ctx.progress->finish();
    finish_analyze(a, ctx, out.document, out.table);
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 10, add_surface);

}  // namespace bertscope::cli
