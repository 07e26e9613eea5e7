// The data options of `analyze influence` on the command line: agreement data (Marvin & Linzen,
// BLiMP, templates) or a GLUE TSV task for a classifier. What they select is read by
// analysis/influence_tasks.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "analysis/influence_tasks.hpp"
#include "cli/task_options.hpp"

namespace bertscope::cli {

struct AgreementArgs {
  std::vector<std::string> data;
  analysis::runs::AgreementChoice choice;  // bound to the flags directly
};

// --data (repeatable), --format, --exclude, --who, --no-period, --keep-duplicates, --truncate and
// the GLUE task options for classifier data.
void add_agreement_options(CLI::App& cmd, AgreementArgs& args);

}  // namespace bertscope::cli
