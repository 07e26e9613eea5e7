#include <cctype>
#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "io/staged_folder.hpp"
#include "report/figure.hpp"

namespace bertscope::cli {

namespace {

// A view id as a file name: "heatmap:results.heads" -> "heatmap_results.heads".
std::string file_stem(const std::string& id) {
  std::string s;
  for (const char c : id) s.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ? c : '_');
  return s;
}

void add_figure_command(CLI::App& app) {
  struct Args {
    std::string results, view, out, format, chromium, field, heads;
    std::optional<int> layer, head, index;
    std::vector<std::string> sets;
    bool word_level = false, list = false, all = false;
    double scale = 2.0;
    int timeout = 120;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "figure",
      "Render one view of a result document or trace file headless (in Chromium, with the viewer's own code) as "
      "SVG or PNG. --list shows the document's views and their settings.");
  cmd->add_option("--results", args->results, "Result document (.json) or trace file (.npz)")->required();
  auto* view = cmd->add_option("--view", args->view,
                               "View id as --list prints it (grid, heatmap, lines, heatmap:results.heads, ...), or a "
                               "kind the document has once");
  cmd->add_option("--layer", args->layer, "Setting 'layer' (0-based)");
  cmd->add_option("--head", args->head, "Setting 'head' (0-based)");
  cmd->add_option("--heads", args->heads, "Setting 'heads' of the line view: all or a list such as 0,3,7");
  cmd->add_option("--field", args->field, "Setting 'field': which value a heatmap, bar or token view shows");
  cmd->add_option("--index", args->index, "Setting 'index': which example of a list");
  cmd->add_flag("--word-level", args->word_level, "Setting 'word-level': merge word pieces (attention views)");
  cmd->add_option("--set", args->sets, "Any other setting as NAME=VALUE (see --list); repeatable");
  cmd->add_option("--format", args->format, "svg or png (default: from --out's extension)")
      ->check(CLI::IsMember({"svg", "png"}));
  cmd->add_option("--scale", args->scale, "PNG pixels per figure pixel (default 2)")->check(CLI::Range(0.25, 8.0));
  auto* out = cmd->add_option("--out", args->out, "Output file");
  auto* list = cmd->add_flag("--list", args->list, "Print the views of the document and their settings as JSON");
  auto* all = cmd->add_flag("--all", args->all,
                            "Every figure of the document (tables excepted) into the folder --out, one file per view id; "
                            "--set applies to the figures that have that setting");
  cmd->add_option("--chromium", args->chromium, "Chromium binary (default: $BERTSCOPE_CHROMIUM, then PATH)");
  cmd->add_option("--timeout", args->timeout, "Seconds to wait for the headless render")->check(CLI::PositiveNumber);
  list->excludes(out);
  cmd->callback([args, view, out, list, all] {
    if (all->count() && (view->count() || list->count())) fail(ErrorKind::input, "--all draws every view: give no --view or --list");
    if (!list->count() && (!(view->count() || all->count()) || !out->count()))
      fail(ErrorKind::input, "give --view and --out (or --all and --out, or --list)");
    report::FigureRequest req;
    req.view = args->view;
    req.scale = args->scale;
    if (args->list) {
      req.format = report::FigureFormat::list;
    } else {
      std::string fmt_name = args->format;
      if (fmt_name.empty() && args->all) fmt_name = "svg";
      if (fmt_name.empty()) {
        const auto ext = std::filesystem::path(args->out).extension().string();
        if (ext == ".png") fmt_name = "png";
        else if (ext == ".svg") fmt_name = "svg";
        else fail(ErrorKind::input, "--out {}: say --format svg or --format png", args->out);
      }
      req.format = fmt_name == "png" ? report::FigureFormat::png : report::FigureFormat::svg;
    }
    if (args->layer) req.settings["layer"] = std::to_string(*args->layer);
    if (args->head) req.settings["head"] = std::to_string(*args->head);
    if (args->index) req.settings["index"] = std::to_string(*args->index);
    if (!args->heads.empty()) req.settings["heads"] = args->heads;
    if (!args->field.empty()) req.settings["field"] = args->field;
    if (args->word_level) req.settings["word-level"] = "true";
    for (const auto& s : args->sets) {
      const auto eq = s.find('=');
      if (eq == std::string::npos || eq == 0) fail(ErrorKind::input, "--set {}: expected NAME=VALUE", s);
      req.settings[s.substr(0, eq)] = s.substr(eq + 1);
    }
    report::ChromiumRun run;
    run.executable = args->chromium;
    run.timeout_s = args->timeout;
    auto doc = report::load_viewer_document(args->results);
    if (args->all) {
      const auto files = report::render_all_figures(std::move(doc), req, run);
      const char* ext = req.format == report::FigureFormat::png ? "png" : "svg";
      // All files or none: built in a staging folder, renamed into place (or into an existing folder one by one).
      const std::filesystem::path dir = args->out;
      auto write_all = [&](const std::filesystem::path& into) {
        for (const auto& [id, bytes] : files) io::write_file_atomic(into / fmt::format("{}.{}", file_stem(id), ext), bytes);
      };
      if (std::filesystem::is_directory(dir)) {
        write_all(dir);
      } else {
        io::StagedFolder staged(dir, "bertscope figure --all\n");
        write_all(staged.path());
        staged.commit();
      }
      fmt::print("wrote {} figures into {}\n", files.size(), args->out);
      return;
    }
    const auto bytes = report::render_figure(std::move(doc), req, run);
    if (args->list) {
      fmt::print("{}\n", nlohmann::json::parse(bytes).dump(1));
      return;
    }
    io::write_file_atomic(args->out, bytes);
    fmt::print("wrote {} ({} bytes)\n", args->out, bytes.size());
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 64, add_figure_command);

}  // namespace bertscope::cli
