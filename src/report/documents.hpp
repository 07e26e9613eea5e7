// The files the viewer shows: analysis result documents (.json, see results.hpp), attention
// documents (.json with "kind": "attention") and trace files (.npz from `bertscope run`,
// converted to attention documents).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/attention_json.hpp"

namespace bertscope::report {

struct ViewerDocument {
  std::string name;     // the file name
  nlohmann::json json;  // a result document or an attention document
};

// Reads one file; throws Error(format) naming it when it is neither kind of document.
ViewerDocument load_viewer_document(const std::filesystem::path& path, Precision precision = Precision::float16);

// Throws Error(format) naming `name` when `json` is neither a result document nor an attention document.
void check_viewer_document(const nlohmann::json& json, const std::string& name);

// Whether `name` is a file name the viewer reads (.json or .npz, not hidden).
bool is_viewer_file_name(const std::string& name);

// The viewer files directly inside `dir` (regular files only: no symlinks, no subfolders),
// sorted by name. Throws Error(io) when `dir` is not a readable folder.
std::vector<std::filesystem::path> viewer_files(const std::filesystem::path& dir);

}  // namespace bertscope::report
