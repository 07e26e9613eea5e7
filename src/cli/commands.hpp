// The bertscope command line. Each command lives in its own file and registers itself with
// BERTSCOPE_COMMAND, so adding a command never edits a shared list; main() builds the app from
// the registry and turns errors into one line on stderr and a non-zero exit code.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace bertscope::cli {

// parent: "" for a top-level command, "analyze" for `bertscope analyze <method>`.
// order: position in --help.
struct CommandRegistration {
  CommandRegistration(std::string parent, int order, std::function<void(CLI::App&)> add);
};

struct RegisteredCommand {
  std::string parent;
  int order;
  std::function<void(CLI::App&)> add;
};
std::vector<RegisteredCommand>& command_registry();

#define BERTSCOPE_CONCAT_INNER(a, b) a##b
#define BERTSCOPE_CONCAT(a, b) BERTSCOPE_CONCAT_INNER(a, b)
#define BERTSCOPE_COMMAND(parent, order, fn) \
  static const ::bertscope::cli::CommandRegistration BERTSCOPE_CONCAT(bertscope_command_, __COUNTER__)(parent, order, fn)

// "--threads N" on a subcommand; applied before the command runs.
void add_threads_option(CLI::App& command, int& threads);
void apply_threads(int threads);

}  // namespace bertscope::cli
