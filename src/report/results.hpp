// Result documents: one JSON object per analysis with `method`, `model`, `data`, `params` and
// `results`, written atomically. The same documents feed the report and the viewer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace bertscope::report {

struct ResultDocument {
  std::string method;
  nlohmann::json model;    // model folder or traces folder (and what it is)
  nlohmann::json data;     // data file(s), counts
  nlohmann::json params;   // every option that changed the result, including which variant ran
  nlohmann::json results;

  nlohmann::json to_json() const;
};

void write_results(const std::filesystem::path& path, const ResultDocument& doc);
ResultDocument read_results(const std::filesystem::path& path);

}  // namespace bertscope::report
