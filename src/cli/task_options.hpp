// Command-line options that say how to read a GLUE-style task file (shared by ablate, compare
// and the Kovaleva analyses): a built-in task name, or the columns, labels and metric.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "analysis/runs.hpp"

namespace bertscope::cli {

using TaskArgs = analysis::runs::TaskChoice;

// --task, --text-column, --pair-column, --label-column, --label-names, --metric, --no-header,
// --regression.
void add_task_options(CLI::App& cmd, TaskArgs& args);

// The task these options describe (nullopt when none was given: detect from the header) is
// analysis::runs::task_spec, which the API calls too.
using analysis::runs::task_spec;

}  // namespace bertscope::cli
