#include "cli/commands.hpp"

namespace bertscope::cli {

namespace {

void add_analyze_group(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "analyze",
      "Analyses of attention heads and information flow, each writing one JSON result document (--out) and "
      "printing a short table. Give --model DIR to run a model on the data, or --traces DIR to analyse saved "
      "attention.");
  cmd->require_subcommand(1);
}

}  // namespace

BERTSCOPE_COMMAND("", 40, add_analyze_group);

}  // namespace bertscope::cli
