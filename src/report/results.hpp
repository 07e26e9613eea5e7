// Result documents: one JSON object per analysis with `method`, `model`, `data`, `params` and
// `results`, written atomically. The same documents feed the report and the viewer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "analysis/document.hpp"

namespace bertscope::report {

using analysis::ResultDocument;

void write_results(const std::filesystem::path& path, const ResultDocument& doc);
ResultDocument read_results(const std::filesystem::path& path);

}  // namespace bertscope::report
