#include <fmt/format.h>

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
  add_segment_options(*cmd, args->seg);
  cmd->add_option("--punct-tokens", args->options.punct_tokens, "Tokens that count as punctuation (default: . ,)");
  cmd->add_option("--position-threshold", args->options.position_threshold, "prev/next label when above (0.5)");
  cmd->add_option("--broad-entropy", args->options.broad_entropy, "broad label when the entropy is above (3.8 nats)");
  cmd->add_option("--special-threshold", args->options.special_threshold, "cls/sep/punct label when above (0.6)");
  cmd->callback([args] {
    auto& a = args->common;
    auto ctx = open_analyze(a, "surface", 0);
    const auto inputs = load_text_inputs(a, args->seg, ctx);
    ctx.progress = std::make_unique<Progress>("surface", static_cast<std::int64_t>(inputs.inputs.size()));
    auto so = source_options(a, ctx);
    so.skip_too_long = !a.truncate;
    so.zero_type_ids = args->seg.zero_type_ids;
    const auto r = sf::run(*ctx.source, inputs.inputs, so, args->options,
                           [&](std::size_t i) { return inputs.where(i); });
    ctx.progress->finish();
    report::ResultDocument doc;
    doc.method = "surface";
    doc.model = ctx.model_json;
    doc.data = {{"path", a.data}, {"inputs", inputs.inputs.size()}};
    doc.params = segment_params(args->seg);
    doc.params.update(sf::params_json(args->options));
    doc.params["too_long"] = a.truncate ? "truncate" : "skip";
    doc.results = sf::to_json(r);
    finish_analyze(a, doc, sf::table(r));
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 10, add_surface);

}  // namespace bertscope::cli
