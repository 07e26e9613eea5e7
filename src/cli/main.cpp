#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include "cli/commands.hpp"
#include "core/parallel.hpp"
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
  // libgomp reads OMP_WAIT_POLICY once, when it loads, before main. Its default spins idle
  // threads at every barrier; when the machine has other work (a build, a second job) the
  // spinning thread takes the core its partner needs, and a forward pass runs 2-3x slower
  // (4-layer model, 8x128, under load: 5.1k tokens/s spinning, 13.7k passive). Passive waiting
  // costs microseconds per parallel region. So unless the user chose a policy, bertscope starts
  // itself again once with PASSIVE.
  if (!std::getenv("OMP_WAIT_POLICY") && ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0) ::execv("/proc/self/exe", argv);
  // Traces and logits are allocated and freed every batch. Serving them from the heap and
  // never trimming it means pages are faulted in once per run, not once per batch (a page
  // fault costs microseconds on virtual machines). 32 MiB is glibc's largest mmap threshold.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "bertscope: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
