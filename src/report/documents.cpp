#include "report/documents.hpp"

#include <algorithm>

#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::report {

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

bool is_viewer_file_name(const std::string& name) {
  return !name.empty() && name[0] != '.' && (ends_with(name, ".json") || ends_with(name, ".npz"));
}

ViewerDocument load_viewer_document(const std::filesystem::path& path, Precision precision) {
  ViewerDocument d;
  d.name = path.filename().string();
  if (ends_with(d.name, ".npz")) {
    d.json = attention_document_from_trace(path, precision);
    return d;
  }
  d.json = io::read_json(path);
  check_viewer_document(d.json, path.string());
  return d;
}

void check_viewer_document(const nlohmann::json& j, const std::string& name) {
  const bool result = j.is_object() && j.contains("method") && j["method"].is_string() && j.contains("results");
  const bool attention = j.is_object() && j.value("kind", nlohmann::json()) == "attention" && j.contains("tokens") &&
                         j.contains("attention");
  if (!result && !attention)
    fail(ErrorKind::format,
         "{}: not a bertscope result document (an object with \"method\" and \"results\") nor an attention document "
         "(\"kind\": \"attention\")",
         name);
}

std::vector<std::filesystem::path> viewer_files(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) fail(ErrorKind::io, "{}: not a folder", dir.string());
  std::vector<std::filesystem::path> out;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) fail(ErrorKind::io, "{}: cannot list the folder: {}", dir.string(), ec.message());
  for (const auto& entry : it) {
    // symlink_status: a link could point anywhere on the disk, and the server promises to
    // serve nothing but the files in this folder.
    if (!std::filesystem::is_regular_file(entry.symlink_status(ec))) continue;
    if (is_viewer_file_name(entry.path().filename().string())) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace bertscope::report
