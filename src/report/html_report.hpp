// `bertscope report`: one self-contained HTML page with every result document and trace file
// of a folder, the viewer's code and styles inlined, so it opens from file:// with no network.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace bertscope::report {

struct ReportOptions {
  std::string title;  // default: "bertscope report: <folder name>"
};

struct SkippedFile {
  std::filesystem::path path;
  std::string reason;
};

struct ReportSummary {
  std::filesystem::path index;          // the page written
  std::vector<std::string> documents;   // file names shown, in page order
  std::vector<SkippedFile> skipped;     // .json/.npz files that are not viewer documents
  std::size_t bytes = 0;                // size of the page
};

// Reads the viewer files of `results_dir` (see documents.hpp) and writes `out_dir`/index.html
// atomically. Files that cannot be read as documents are skipped and listed; a folder with no
// document at all is an Error(input).
ReportSummary write_report(const std::filesystem::path& results_dir, const std::filesystem::path& out_dir,
                           const ReportOptions& options = {});

}  // namespace bertscope::report
