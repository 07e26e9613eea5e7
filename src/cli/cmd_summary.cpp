#include <memory>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "report/summary.hpp"

namespace bertscope::cli {

namespace {

void add_summary_command(CLI::App& app) {
  struct Args {
    std::string results, out;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "summary",
      "Print the findings of a folder of result documents with their numbers: positional and delimiter heads, the "
      "best syntactic head per relation against its baseline, coreference heads, pattern types, the heads whose "
      "removal helps the task, head importance, the share of influence through skip connections. Computed from the "
      "documents, so another model gives another summary.");
  cmd->add_option("--results", args->results, "Folder of result documents (.json)")->required();
  cmd->add_option("--out", args->out, "Also write the summary as JSON here");
  cmd->callback([args] {
    if (!std::filesystem::is_directory(args->results))
      throw bertscope::Error(bertscope::ErrorKind::input, fmt::format("{}: no such folder", args->results));
    const auto s = report::summarize(args->results);
    fmt::print("{}", report::format_summary(s));
    if (!args->out.empty()) io::write_file_atomic(args->out, report::summary_json(s).dump(1) + "\n");
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 63, add_summary_command);

}  // namespace bertscope::cli
