// The bertscope command line: each command registers itself on the app; main() runs it and
// turns errors into one line on stderr and a non-zero exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace bertscope::cli {

void add_info_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_make_model_command(CLI::App& app);

// "--threads N" on a subcommand; applied before the command runs.
void add_threads_option(CLI::App& command, int& threads);
void apply_threads(int threads);

}  // namespace bertscope::cli
