#include <memory>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "report/html_report.hpp"

namespace bertscope::cli {

namespace {

void add_report_command(CLI::App& app) {
  struct Args {
    std::string results, out, title;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "report",
      "Write one self-contained HTML page (OUT/index.html) with every result document (.json) and trace file (.npz) "
      "of a folder and all their views; it opens from file:// with no network, and every chart has PNG and SVG "
      "export buttons.");
  cmd->add_option("--results", args->results, "Folder of result documents and trace files")->required();
  cmd->add_option("--out", args->out, "Output folder (created)")->required();
  cmd->add_option("--title", args->title, "Page title (default: bertscope report: <folder>)");
  cmd->callback([args] {
    const auto s = report::write_report(args->results, args->out, {args->title});
    for (const auto& k : s.skipped) fmt::print(stderr, "bertscope report: skipped {}: {}\n", k.path.string(), k.reason);
    fmt::print("wrote {} ({} documents, {:.1f} MB)\n", s.index.string(), s.documents.size(),
               static_cast<double>(s.bytes) / 1e6);
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 62, add_report_command);

}  // namespace bertscope::cli
