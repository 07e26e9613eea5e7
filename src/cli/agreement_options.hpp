// The data options of `analyze influence`: agreement data (Marvin & Linzen, BLiMP, templates) or
// a GLUE TSV task for a classifier, read and turned into QoI instances with their forms and token
// roles.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "analysis/agreement_data.hpp"
#include "analysis/influence.hpp"
#include "cli/task_options.hpp"
#include "model/model.hpp"

namespace bertscope::cli {

struct AgreementArgs {
  std::vector<std::string> data;
  std::string format = "auto";
  std::string exclude = "default";
  bool who = false, no_period = false, keep_duplicates = false, truncate = false;
  TaskArgs task;
};

// --data (repeatable), --format, --exclude, --who, --no-period, --keep-duplicates, --truncate and
// the GLUE task options for classifier data.
void add_agreement_options(CLI::App& cmd, AgreementArgs& args);

// One data file as QoI instances.
struct LoadedTask {
  std::string task, path, format;
  std::vector<analysis::influence::Instance> instances;
  std::vector<std::string> forms, texts, good, bad;
  std::vector<std::vector<std::string>> tokens;
  std::vector<std::vector<std::string>> roles;  // per token: "subject", "attractor", "target" or ""
  nlohmann::json report;                        // what the reader, the encoder and the selection kept
};

std::vector<LoadedTask> load_tasks(const model::Model& model, const AgreementArgs& args,
                                   const analysis::agreement::SelectOptions& select);

// The role used to group patterns: the token's role, else "p<position>".
std::string role_or_position(const LoadedTask& task, std::size_t example, std::int32_t position);

}  // namespace bertscope::cli
