// The model card (README.md) and training report that `train`, `export` and `evaluate` write
// beside a model folder. Both are computed from train_report.json, never written by hand, and
// name data files without the paths of the machine that made them.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.hpp"

namespace bertscope::cli {

// How a report names a data file: a relative path without ".." as given, anything else by its
// file name alone.
std::string report_file_name(const std::string& path);
nlohmann::json report_file_names(const std::vector<std::string>& paths);

// The report with every data file named by report_file_name (reports written before that
// named them by the paths they were given).
nlohmann::json portable_report(nlohmann::json report);

// The card's opening sentence for a pre-trained masked-LM model.
std::string pretrained_description(const model::ModelConfig& config);

// Writes dir/README.md from the training report.
void write_model_card(const std::filesystem::path& dir, const std::string& title, const std::string& what,
                      const nlohmann::json& report);

}  // namespace bertscope::cli
