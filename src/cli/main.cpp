#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "bertscope/init.hpp"
#include "cli/commands.hpp"
#include "cli/distributed.hpp"
#include "core/parallel.hpp"
#include "dist/processes.hpp"
#include "io/error.hpp"

namespace bertscope::cli {

std::vector<RegisteredCommand>& command_registry() {
  static std::vector<RegisteredCommand> registry;
  return registry;
}

CommandRegistration::CommandRegistration(std::string parent, int order, std::function<void(CLI::App&)> add) {
  command_registry().push_back({std::move(parent), order, std::move(add)});
}

void add_threads_option(CLI::App& command, int& threads) {
  command.add_option("--threads", threads, "Threads for matrix products and per-head work (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
}

void apply_threads(int threads) { core::set_num_threads(threads); }

}  // namespace bertscope::cli

int main(int argc, char** argv) {
  using namespace bertscope::cli;
  // OpenMP passive waiting (a re-start when the user chose no policy) and malloc tuning.
  bertscope::init(argc, argv);
  set_command_line(argc, argv);
  // Under mpirun: join the run now (after init's re-start), before anything prints.
  try {
    bertscope::dist::rank();
  } catch (const std::exception& e) {
    fmt::print(stderr, "bertscope: error: {}\n", e.what());
    return 1;
  }
  CLI::App app{
      "bertscope: run Hugging Face BERT checkpoints exactly, record every internal (attention per head, "
      "hidden states, ...), and analyse what attention heads do."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "bertscope 0.1.0");
  auto registry = command_registry();
  std::stable_sort(registry.begin(), registry.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
  for (const auto& c : registry)
    if (c.parent.empty()) c.add(app);
  // Groups ("analyze") are registered as top-level commands; their methods attach to them here.
  for (const auto& c : registry) {
    if (c.parent.empty()) continue;
    auto* parent = app.get_subcommand(c.parent);
    c.add(*parent);
  }
  // Under mpirun every process runs the command; they end together in dist::conclude, and only
  // process 0 prints the run's one error line (the first failure, naming its process).
  std::string error;
  bool stopped = false;
  int code = 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    code = bertscope::dist::writer() ? app.exit(e) : app.exit(e, std::cout, std::cout);
    if (code != 0) error = "invalid command line";
  } catch (const bertscope::dist::Stopped&) {
    stopped = true;
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "unknown error";
  }
  std::string line;
  try {
    line = bertscope::dist::conclude(error, stopped);
  } catch (const std::exception& e) {
    line = error.empty() ? e.what() : error;
  }
  if (!line.empty() && code == 0) code = 1;
  if (!line.empty() && bertscope::dist::writer() && line != "invalid command line") {
    std::fflush(stdout);
    fmt::print(stderr, "bertscope: error: {}\n", line);
  }
  bertscope::dist::finalize();
  return code;
}
