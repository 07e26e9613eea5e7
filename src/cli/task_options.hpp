// Command-line options that say how to read a GLUE-style task file (shared by ablate, compare
// and the Kovaleva analyses): a built-in task name, or the columns, labels and metric.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "analysis/task_data.hpp"

namespace bertscope::cli {

struct TaskArgs {
  std::string task, text_column, pair_column, label_column, label_names, metric;
  bool no_header = false, regression = false;
};

// --task, --text-column, --pair-column, --label-column, --label-names, --metric, --no-header,
// --regression.
void add_task_options(CLI::App& cmd, TaskArgs& args);

// The task these options describe; nullopt when none was given (detect from the header).
std::optional<analysis::TaskSpec> task_spec(const TaskArgs& args);

}  // namespace bertscope::cli
