#include "report/html_report.hpp"

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/staged_folder.hpp"
#include "io/files.hpp"
#include "report/documents.hpp"
#include "report/page.hpp"
#include "report/summary.hpp"

namespace bertscope::report {

ReportSummary write_report(const std::filesystem::path& results_dir, const std::filesystem::path& out_dir,
                           const ReportOptions& options) {
  ReportSummary summary;
  std::vector<ViewerDocument> docs;
  for (const auto& path : viewer_files(results_dir)) {
    try {
      docs.push_back(load_viewer_document(path));
      summary.documents.push_back(docs.back().name);
    } catch (const Error& e) {
      // A folder of results often holds other JSON (configs, logs); they are listed, not fatal.
      if (e.kind() != ErrorKind::format && e.kind() != ErrorKind::input) throw;
      summary.skipped.push_back({path, e.what()});
    }
  }
  if (docs.empty())
    fail(ErrorKind::input, "{}: no result documents (.json) or trace files (.npz) to report{}", results_dir.string(),
         summary.skipped.empty() ? "" : fmt::format(" ({} files skipped)", summary.skipped.size()));
  auto dir_name = std::filesystem::absolute(results_dir).lexically_normal().filename().string();
  if (dir_name.empty()) dir_name = std::filesystem::absolute(results_dir).lexically_normal().parent_path().filename().string();
  const std::string title = options.title.empty() ? fmt::format("bertscope report: {}", dir_name) : options.title;
  nlohmann::json config = {{"mode", "report"}, {"title", title}};
  // The page opens with the findings (what `bertscope summary` prints), linked to their figures,
  // and groups the documents by paper and question: from the .json documents already read.
  std::vector<std::pair<std::string, nlohmann::json>> results;
  for (const auto& d : docs)
    if (std::filesystem::path(d.name).extension() == ".json") results.emplace_back(d.name, d.json);
  std::vector<std::string> unreadable;
  for (const auto& k : summary.skipped)
    if (k.path.extension() == ".json") unreadable.push_back(fmt::format("{}: {}", k.path.filename().string(), k.reason));
  config["summary"] = summary_json(summarize(results, std::move(unreadable)));
  config["documents"] = documents_json(std::move(docs));
  const auto page = viewer_page(config, title, AssetMode::inlined);
  // A new folder appears only with its page in it (staged, then renamed); into an existing one
  // the page is written atomically.
  std::error_code ec;
  summary.index = out_dir / "index.html";
  if (std::filesystem::is_directory(out_dir, ec)) {
    io::write_file_atomic(summary.index, page);
  } else {
    const auto target = out_dir.filename().empty() ? out_dir.parent_path() : out_dir;
    if (!target.parent_path().empty()) std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) fail(ErrorKind::io, "{}: cannot create the folder: {}", out_dir.string(), ec.message());
    io::StagedFolder staged(target, "bertscope report\n");
    io::write_file_atomic(staged.path() / "index.html", page);
    staged.commit();
  }
  summary.bytes = page.size();
  return summary;
}

}  // namespace bertscope::report
